//! The route-flag table: layer (absent, joins, opens) × flag (absent,
//! `true`, `false`) × caller headers (sent, not sent). A joined session
//! always wins.

use super::*;

#[tappass::governed(auto_open_session = true)]
async fn open(session: Option<Session>) -> Json<Value> {
    seen(session)
}

#[tappass::governed(auto_open_session = false)]
async fn join_only(session: Option<Session>) -> Json<Value> {
    seen(session)
}

fn flag_routes() -> Router {
    Router::new()
        .route("/inherit", get(inherit))
        .route("/open", get(open))
        .route("/join_only", get(join_only))
}

#[derive(Debug, PartialEq)]
enum Expect {
    None,
    Joined,
    Fresh,
}

/// Calls `path` and checks that the handler's extractor, its body's current
/// session and the response's correlation header all agree on `expect`.
async fn check_row(layer_kind: Layer, path: &str, caller_headers: bool, expect: Expect) {
    let row = format!("layer {layer_kind:?}, route {path}, caller headers {caller_headers}");
    let mut request = Request::get(path);
    if caller_headers {
        request = request
            .header("x-tappass-session-id", CALLER)
            .header("x-tappass-agent-uuid", "agt-1");
    }
    let response = with(layer_kind, flag_routes())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{row}");
    let header = response
        .headers()
        .get("x-tappass-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let extracted = body["extracted"].as_str().map(str::to_owned);
    assert_eq!(extracted.as_deref(), body["current"].as_str(), "{row}");
    assert_eq!(
        extracted, header,
        "{row}: the response carries the handler's session"
    );
    match expect {
        Expect::None => assert_eq!(extracted, None, "{row}"),
        Expect::Joined => assert_eq!(extracted.as_deref(), Some(CALLER), "{row}"),
        Expect::Fresh => {
            let id = extracted.unwrap_or_else(|| panic!("{row}: expected a fresh session"));
            assert!(id.starts_with("ses_") && id != CALLER, "{row}: {id}");
        }
    }
}

#[tokio::test]
async fn a_joined_session_always_wins() {
    for layer_kind in [Layer::Absent, Layer::Joins, Layer::Opens] {
        for path in ["/inherit", "/open", "/join_only"] {
            check_row(layer_kind, path, true, Expect::Joined).await;
        }
    }
}

#[tokio::test]
async fn without_the_layer_no_flag_means_no_session() {
    check_row(Layer::Absent, "/inherit", false, Expect::None).await;
}

#[tokio::test]
async fn without_the_layer_the_flag_on_opens_a_session() {
    check_row(Layer::Absent, "/open", false, Expect::Fresh).await;
}

#[tokio::test]
async fn without_the_layer_the_flag_off_opens_none() {
    check_row(Layer::Absent, "/join_only", false, Expect::None).await;
}

#[tokio::test]
async fn behind_a_joining_layer_no_flag_means_no_session() {
    check_row(Layer::Joins, "/inherit", false, Expect::None).await;
}

#[tokio::test]
async fn behind_a_joining_layer_the_flag_on_opens_a_session() {
    check_row(Layer::Joins, "/open", false, Expect::Fresh).await;
}

#[tokio::test]
async fn behind_a_joining_layer_the_flag_off_opens_none() {
    check_row(Layer::Joins, "/join_only", false, Expect::None).await;
}

#[tokio::test]
async fn behind_an_opening_layer_no_flag_gets_the_layers_session() {
    check_row(Layer::Opens, "/inherit", false, Expect::Fresh).await;
}

#[tokio::test]
async fn behind_an_opening_layer_the_flag_on_gets_a_session() {
    check_row(Layer::Opens, "/open", false, Expect::Fresh).await;
}

#[tokio::test]
async fn behind_an_opening_layer_the_flag_off_overrides_it() {
    check_row(Layer::Opens, "/join_only", false, Expect::None).await;
}
