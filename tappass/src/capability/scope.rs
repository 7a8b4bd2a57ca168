//! The credentials a `#[tappass::guard]` function checks its calls with,
//! held by the task that runs them: Python's `token_scope`, `key_scope`
//! and `authorizer_scope` in one.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;

use super::authorizer::Authorizer;
use super::token::CapabilityToken;
use crate::signing::SigningKey;

tokio::task_local! {
    /// The credentials of the task's guarded calls.
    static CREDENTIALS: Credentials;
}

/// What a guarded call is checked with: the authorizer (the trusted roots,
/// the minimum trust score), the token the control plane issued, and the
/// holder's key, which signs each call's proof of possession. A clone is
/// three reference counts and a key.
///
/// Python's `@guard` without an authorizer in scope lets the token verify
/// itself (any self-signed token passes); here there is no guarded call
/// without an authorizer, which has a trusted root.
#[derive(Clone)]
pub struct Credentials {
    pub(crate) authorizer: Authorizer,
    pub(crate) token: Arc<CapabilityToken>,
    pub(crate) key: SigningKey,
}

impl Credentials {
    /// The credentials of an agent that holds `token` with `key`, checked
    /// by `authorizer`.
    pub fn new(
        authorizer: Authorizer,
        token: impl Into<Arc<CapabilityToken>>,
        key: SigningKey,
    ) -> Credentials {
        Credentials {
            authorizer,
            token: token.into(),
            key,
        }
    }

    /// The authorizer.
    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// The token.
    pub fn token(&self) -> &CapabilityToken {
        &self.token
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("authorizer", &self.authorizer)
            .field("token", &self.token)
            .field("key", &self.key)
            .finish()
    }
}

/// Runs `future` with `credentials` for the `#[tappass::guard]` functions
/// it calls (Python's `with token_scope(token), key_scope(key):`). A scope
/// inside another replaces it for its own future; a task spawned inside
/// does not inherit it (give it a scope of its own).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tappass::capability::{Authorizer, CapabilityToken, ConstraintSet, Credentials, SigningKey, Subpath};
///
/// #[tappass::guard(tool = "read_file")]
/// async fn read_file(path: &str) -> Result<String, tappass::Error> {
///     Ok(format!("contents of {path}"))
/// }
///
/// let control_plane = SigningKey::generate()?;
/// let agent = SigningKey::generate()?;
/// let token = CapabilityToken::builder()
///     .holder(agent.public_key())
///     .tool("read_file", ConstraintSet::new().with("path", Subpath::new("/data")?))
///     .sign(&control_plane)?;
/// let authorizer = Authorizer::builder().trusted_root(control_plane.public_key()).build()?;
///
/// let credentials = Credentials::new(authorizer, token, agent);
/// tappass::capability::scope(credentials, async {
///     assert!(read_file("/data/q3.pdf").await.is_ok());
///     assert!(read_file("/etc/passwd").await.is_err()); // outside the token's Subpath
/// })
/// .await;
///
/// // Outside a scope, a guarded function refuses every call.
/// assert!(read_file("/data/q3.pdf").await.is_err());
/// # Ok(()) }
/// ```
pub fn scope<F: IntoFuture>(
    credentials: Credentials,
    future: F,
) -> impl Future<Output = F::Output> {
    CREDENTIALS.scope(credentials, future.into_future())
}

/// The credentials of the current task's scope, if any.
pub(crate) fn current() -> Option<Credentials> {
    CREDENTIALS.try_with(Clone::clone).ok()
}
