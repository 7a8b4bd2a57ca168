#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("quoted")]
    #[governance(status = "403")]
    Quoted,

    #[error("bare")]
    #[governance(status)]
    Bare,
}

fn main() {}
