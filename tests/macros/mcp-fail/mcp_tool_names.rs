use rmcp::{tool, tool_router};

struct Server;

#[tappass::mcp::governed]
#[tool_router]
impl Server {
    #[tool(name = "billing:refund", description = "A separator")]
    async fn refund(&self) -> String {
        "refunded".into()
    }

    #[tool(name = "*", description = "A wildcard")]
    async fn anything(&self) -> String {
        "any".into()
    }

    #[tool(name = "..", description = "A path step")]
    async fn up(&self) -> String {
        "up".into()
    }

    #[tool(name = "<b>bold</b>", description = "Markup")]
    async fn bold(&self) -> String {
        "bold".into()
    }

    #[tool(description = "A good name")]
    async fn fine(&self) -> String {
        "fine".into()
    }

    #[tool(name = "fine", description = "The same name again")]
    async fn fine_again(&self) -> String {
        "fine".into()
    }
}

fn main() {}
