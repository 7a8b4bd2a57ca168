//! Name, visibility, docs, generics and other attributes are kept: the module
//! denies missing docs and unused results, and the handler is used by path.
#![deny(missing_docs)]
//! Crate docs.

/// Handlers.
pub mod handlers {
    use axum::extract::State;

    /// Starts a conversation.
    #[tappass::governed(auto_open_session = true)]
    #[allow(clippy::unused_async)]
    #[must_use = "a handler's response is meant to be sent"]
    pub async fn start<S: Clone + Send + Sync + 'static>(
        State(_state): State<S>,
        session: tappass::Session,
    ) -> String {
        session.id().to_owned()
    }

    #[tappass::governed]
    /// Docs below the attribute are kept too.
    #[inline]
    pub(crate) async fn other() {}
}

fn main() {
    let _app: axum::Router = axum::Router::new()
        .route("/start", axum::routing::post(handlers::start::<()>))
        .route("/other", axum::routing::get(handlers::other))
        .with_state(());
}
