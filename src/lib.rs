//! Examples and end-to-end tests for tappass.
