//! MCP tests (to write)
