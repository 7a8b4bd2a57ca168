#![doc = include_str!("../docs/mcp.md")]

mod correlation;
mod governance;
mod grants;
mod handler;
mod http;
mod rules;
mod shared;

pub use correlation::{CORRELATION_KEY, RESUME_TOKEN_KEY};
pub use governance::{Governance, GovernanceBuilder};
pub use handler::Governed;
pub use http::{McpFuture, McpService};
pub use rules::{Decision, GovernedTools, Needs, ToolRules, MAX_CAPABILITY_LEN, MAX_TOOL_NAME_LEN};

#[doc = include_str!("../docs/mcp_governed.md")]
#[doc(inline)]
pub use tappass_macros::mcp_governed as governed;
