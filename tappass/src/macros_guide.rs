#![doc = include_str!("docs/macros.md")]
