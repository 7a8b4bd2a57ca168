#![doc = include_str!("docs/layer.md")]
