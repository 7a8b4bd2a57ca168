use rmcp::{tool, tool_router};

struct Server;

#[tappass::mcp::governed]
#[tool_router]
impl Server {
    #[tool(description = "Send an e-mail")]
    #[governance(aproval)]
    async fn send_email(&self) -> String {
        "sent".into()
    }

    #[tool(description = "Wire funds")]
    #[governance(wait_for_human = "5m", audit_only = true)]
    async fn wire_funds(&self) -> String {
        "wired".into()
    }
}

fn main() {}
