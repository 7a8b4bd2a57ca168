//! `#[governed(state = T)]`: an extractor that needs the router's state, in
//! a handler with no `State<T>` parameter, is checked against that state.
use axum::extract::{FromRef, FromRequestParts};
use axum::routing::get;
use axum::Router;
use http::request::Parts;

#[derive(Clone)]
struct AppState {
    tenant: String,
}

struct Tenant(String);

impl<S: Send + Sync> FromRequestParts<S> for Tenant
where
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Tenant(AppState::from_ref(state).tenant))
    }
}

#[tappass::governed(state = AppState)]
async fn whoami(Tenant(tenant): Tenant, session: Option<tappass::Session>) -> String {
    let _ = session;
    tenant
}

fn main() {
    let _app: Router = Router::new().route("/", get(whoami)).with_state(AppState {
        tenant: "acme".to_owned(),
    });
}
