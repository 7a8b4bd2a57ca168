// With `#[governance(openapi)]`, every body field and every transparent inner
// error needs a schema; the error points at the type that has none.
struct Opaque;

impl serde::Serialize for Opaque {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[error("inner")]
#[governance(status = 500)]
struct Inner;

#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
#[governance(openapi)]
enum ChatError {
    #[error("rejected")]
    #[governance(status = 403)]
    Rejected { detail: Opaque },

    #[error(transparent)]
    #[governance(transparent)]
    Inner(Inner),
}

impl std::fmt::Debug for Opaque {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opaque")
    }
}

fn main() {}
