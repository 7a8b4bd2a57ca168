#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error(transparent)]
    #[governance(transparent)]
    Io(std::io::Error),
}

fn main() {}
