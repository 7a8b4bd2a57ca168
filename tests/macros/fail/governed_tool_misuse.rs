// Every mistake of `tool = …` and its options, each at its own token.

#[tappass::governed(tool = "read file")]
async fn spaced() {}

#[tappass::governed(tool = "*")]
async fn any_tool() {}

#[tappass::governed(tool = "read_file", min_clearance = "SECRET")]
async fn unknown_clearance() {}

#[tappass::governed(path_param = "path", query = ["q"], min_clearance = "INTERNAL")]
async fn without_tool() {}

#[tappass::governed(tool = "search", path_param = "q", query = ["q", ""])]
async fn named_twice() {}

#[tappass::governed(tool = "search", tool = "find", query = 3)]
async fn repeated() {}

fn main() {
    let _app: axum::Router = axum::Router::new()
        .route("/a", axum::routing::get(spaced))
        .route("/b", axum::routing::get(any_tool))
        .route("/c", axum::routing::get(unknown_clearance))
        .route("/d", axum::routing::get(without_tool))
        .route("/e/{q}", axum::routing::get(named_twice))
        .route("/f", axum::routing::get(repeated));
}
