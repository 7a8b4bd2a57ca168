#[derive(Debug, thiserror::Error, tappass::GovernanceError)]
enum ChatError {
    #[error("a")]
    #[governance(status = 403, code = "Prompt-Rejected")]
    Capitals,

    #[error("b")]
    #[governance(status = 403, code = "")]
    Empty,

    #[error("c")]
    #[governance(status = 403, code = decison)]
    Misspelled { decision: String },

    #[error("d")]
    #[governance(status = 403, code = 7)]
    Number,
}

fn main() {}
