//! Procedural macros for `tappass`; use them through the `tappass` crate.
