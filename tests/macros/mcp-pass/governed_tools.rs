//! `#[tappass::mcp::governed]` above or below `#[tool_router]`, every option
//! of `#[governance]`, a tool renamed with `#[tool(name = …)]`, a generic
//! server: the table it writes is what the tools were declared to need.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::{tool, tool_router};
use tappass::mcp::{Decision, GovernedTools, Needs};

struct Billing {
    #[allow(dead_code)]
    router: ToolRouter<Self>,
}

#[tappass::mcp::governed]
#[tool_router(router = router)]
impl Billing {
    #[tool(description = "Look up an invoice")]
    async fn lookup_invoice(&self) -> String {
        "found".into()
    }

    #[tool(description = "Send an e-mail")]
    #[governance(approval)]
    async fn send_email(&self) -> String {
        "sent".into()
    }

    /// The fn's name is not the tool's.
    #[tool(name = "audit.read-log", description = "Read the audit log")]
    #[governance(audit_only, capability)]
    async fn read_log(&self) -> String {
        "read".into()
    }

    #[tool(description = "Refund a payment")]
    #[governance(capability = "billing:refund", approval)]
    async fn refund(&self) -> String {
        "refunded".into()
    }

    /// Not a tool: left alone.
    #[allow(dead_code)]
    fn helper(&self) {}
}

struct Generic<T: Send + Sync + 'static> {
    #[allow(dead_code)]
    router: ToolRouter<Self>,
    #[allow(dead_code)]
    value: T,
}

#[tool_router(router = router)]
#[tappass::mcp::governed]
impl<T: Send + Sync + 'static> Generic<T> {
    #[tool(description = "Ping")]
    #[governance(audit_only)]
    async fn ping(&self) -> String {
        "pong".into()
    }
}

fn main() {
    let rules = Billing::tool_rules();
    assert_eq!(rules.get("lookup_invoice"), Some(&Needs::policy()));
    assert_eq!(rules.get("send_email"), Some(&Needs::approval()));
    let read_log = rules.get("audit.read-log").expect("renamed");
    assert_eq!(read_log.decision(), Decision::AuditOnly);
    assert_eq!(read_log.capability(), Some("tool:call:audit.read-log"));
    assert_eq!(
        rules.get("refund"),
        Some(&Needs::approval().with_capability("billing:refund"))
    );
    assert_eq!(rules.get("read_log"), None);
    assert_eq!(rules.get("helper"), None);
    assert_eq!(rules.iter().count(), 4);
    assert_eq!(
        Generic::<u8>::tool_rules().get("ping"),
        Some(&Needs::audit_only())
    );
}
