use rmcp::{tool, tool_router};

struct Server;

#[tappass::mcp::governed]
#[tool_router]
impl Server {
    #[tool(description = "A wildcard required")]
    #[governance(capability = "tool:call:*")]
    async fn wild(&self) -> String {
        "wild".into()
    }

    #[tool(description = "Markup and a space")]
    #[governance(capability = "<b>x</b> y")]
    async fn markup(&self) -> String {
        "markup".into()
    }

    #[tool(description = "Not a string")]
    #[governance(capability = 42)]
    async fn number(&self) -> String {
        "number".into()
    }
}

fn main() {}
