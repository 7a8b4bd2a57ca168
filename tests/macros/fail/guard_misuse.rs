// Every mistake a guarded function's signature can make, each at its token.

#[tappass::guard(tool = "read_file")]
fn not_async(path: &str) -> Result<String, tappass::Error> {
    Ok(path.to_owned())
}

#[tappass::guard(tool = "read_file")]
async fn not_a_result(path: &str) -> String {
    path.to_owned()
}

#[tappass::guard]
async fn no_answer(path: &str) {
    let _ = path;
}

#[tappass::guard(tool = "read file", tol = "x")]
async fn bad_options(path: &str) -> Result<String, tappass::Error> {
    Ok(path.to_owned())
}

#[tappass::guard]
async fn patterns(
    (a, b): (u8, u8),
    #[constraint(Subpth("/data"))] path: &str,
    #[constraint(Exact("a"))]
    #[constraint(Exact("b"))]
    mode: &str,
    #[constraint(Subpath)] root: &str,
) -> Result<String, tappass::Error> {
    Ok(format!("{a}{b}{path}{mode}{root}"))
}

fn main() {}
