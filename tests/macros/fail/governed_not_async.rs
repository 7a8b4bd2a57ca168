#[tappass::governed]
fn chat(session: tappass::Session) -> String {
    session.id().to_owned()
}

fn main() {
    let _app: axum::Router = axum::Router::new().route("/", axum::routing::get(chat));
}
