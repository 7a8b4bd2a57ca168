use rmcp::ServerHandler;

/// A server that says nothing about its tools.
struct Quiet;

impl ServerHandler for Quiet {}

fn main() {
    let governance = tappass::mcp::Governance::builder()
        .tappass_url("http://127.0.0.1:9620")
        .api_key("tp_example")
        .build()
        .unwrap();
    let _ = governance.wrap(Quiet);
}
