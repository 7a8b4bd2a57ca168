#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("fine")]
    #[governance(status = 200)]
    Fine,

    #[error("odd")]
    #[governance(status = 600)]
    Odd,

    #[error("huge")]
    #[governance(status = 70000)]
    Huge,
}

fn main() {}
