//! What a [`Governance`](super::Governance) holds, shared by the handler
//! that governs each call and the grant checks it makes: the agent, the
//! session choice, what a call's scope lends, and the grant verifiers.

use crate::agent::Agent;
use crate::session::scope::Lent;

/// What [`Governance`] holds.
pub(crate) struct Shared {
    pub(crate) agent: Agent,
    pub(crate) auto_open_session: bool,
    /// What the scope of a call lends it: the agent, as a layer lends its own.
    pub(crate) lent: Lent,
    #[cfg(feature = "mandate")]
    pub(crate) mandates: Option<crate::mandate::MandateVerifier>,
    #[cfg(feature = "capability")]
    pub(crate) authorizer: Option<crate::capability::Authorizer>,
}

impl Shared {
    /// Whether grants can be verified at all.
    pub(crate) fn verifies_grants(&self) -> bool {
        #[allow(unused_mut)]
        let mut any = false;
        #[cfg(feature = "mandate")]
        {
            any |= self.mandates.is_some();
        }
        #[cfg(feature = "capability")]
        {
            any |= self.authorizer.is_some();
        }
        any
    }
}
