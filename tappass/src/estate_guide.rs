#![doc = include_str!("docs/estate.md")]
