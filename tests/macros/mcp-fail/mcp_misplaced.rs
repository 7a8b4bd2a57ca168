use rmcp::{tool, tool_router};

struct Server;

#[tappass::mcp::governed]
#[tool_router]
impl Server {
    #[tool(description = "A tool")]
    async fn a_tool(&self) -> String {
        "tool".into()
    }

    /// Not a tool.
    #[governance(approval)]
    fn helper(&self) {}
}

struct Empty;

#[tappass::mcp::governed(strict)]
impl Empty {
    fn not_a_tool(&self) {}
}

struct Bare;

#[tappass::mcp::governed]
impl Bare {
    fn no_tools_here(&self) {}
}

#[tappass::mcp::governed]
fn a_fn() {}

trait Tools {}

#[tappass::mcp::governed]
impl Tools for Empty {}

fn main() {}
