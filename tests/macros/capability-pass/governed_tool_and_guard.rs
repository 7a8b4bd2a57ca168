// `#[governed(tool = …)]` beside the other options and extractors, with the
// authorizer from the state; `#[tappass::guard]` on functions and methods,
// generic ones included.

use axum::extract::{FromRef, Path, Query, State};
use tappass::capability::{level, AuthResult, Authorizer, RequireClearance};

#[derive(Clone)]
struct AppState {
    authorizer: Authorizer,
}

impl FromRef<AppState> for Authorizer {
    fn from_ref(state: &AppState) -> Authorizer {
        state.authorizer.clone()
    }
}

#[derive(serde::Deserialize)]
struct Q {
    q: String,
}

#[tappass::governed(
    tool = "read_file",
    path_param = ["dir", "file"],
    query = "q",
    min_clearance = "internal",
    capability = "tool:call:read_file",
    auto_open_session = false
)]
async fn read(
    State(_state): State<AppState>,
    auth: AuthResult,
    Path((dir, file)): Path<(String, String)>,
    Query(q): Query<Q>,
    session: Option<tappass::Session>,
) -> String {
    format!("{dir}/{file} {} {} {}", q.q, auth.tool(), session.is_some())
}

#[tappass::governed(tool = "reset")]
async fn reset(RequireClearance(auth, ..): RequireClearance<level::System>, body: String) -> String {
    format!("{} {body}", auth.token_id())
}

#[tappass::guard(tool = "read_file")]
async fn read_file(
    #[constraint(Subpath("/data"))] path: &str,
    #[constraint(Wildcard)] mode: Option<String>,
    #[constraint(tappass::capability::Range::between(1, 10))] limit: u32,
) -> Result<String, tappass::Error> {
    Ok(format!("{path} {mode:?} {limit}"))
}

#[tappass::guard]
async fn search<T: serde::Serialize + Send + Sync>(query: T) -> Result<(), tappass::capability::CapabilityRejection> {
    let _ = query;
    Ok(())
}

struct Files;

impl Files {
    #[tappass::guard(tool = "read_file")]
    async fn read(&self, #[constraint(UrlSafe)] url: String) -> Result<String, tappass::Error> {
        Ok(url)
    }
}

fn main() {
    let _app: axum::Router = axum::Router::new()
        .route("/files/{dir}/{file}", axum::routing::get(read))
        .route("/reset", axum::routing::post(reset))
        .with_state(AppState {
            authorizer: Authorizer::builder()
                .trusted_root(tappass::capability::SigningKey::from_bytes(&[1; 32]).public_key())
                .build()
                .unwrap(),
        });
    let _ = read_file("/data/x", None, 3);
    let _ = search("x");
    let _ = Files.read("https://example.com".into());
}
