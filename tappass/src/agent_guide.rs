#![doc = include_str!("docs/agent.md")]
