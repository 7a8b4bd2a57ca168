use rmcp::{tool, tool_router};

struct Server;

#[tappass::mcp::governed]
#[tool_router]
impl Server {
    #[tool(description = "Both at once")]
    #[governance(approval, audit_only)]
    async fn both(&self) -> String {
        "both".into()
    }

    #[tool(description = "Twice")]
    #[governance(approval, approval)]
    async fn twice(&self) -> String {
        "twice".into()
    }

    #[tool(description = "Two lists")]
    #[governance(approval)]
    #[governance(capability)]
    async fn two_lists(&self) -> String {
        "two".into()
    }

    #[tool(description = "Nothing said")]
    #[governance]
    async fn bare(&self) -> String {
        "bare".into()
    }

    #[tool(description = "An empty list")]
    #[governance()]
    async fn empty(&self) -> String {
        "empty".into()
    }
}

fn main() {}
