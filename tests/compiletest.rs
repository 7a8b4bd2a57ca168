//! Compile-time behaviour of the macros: `tests/macros/pass` must build,
//! `tests/macros/fail` must fail with the message in the `.stderr` beside it.
//! The cases of `#[governance(openapi)]` need the `utoipa` feature; the case
//! of `#[governed(capability = …)]` without the `mandate` feature runs alone,
//! with `cargo test --no-default-features --test compiletest capability_without`
//! (as `.ci/run` does).

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    t.pass("tests/macros/pass/*.rs");
    t.compile_fail("tests/macros/fail/*.rs");
    #[cfg(feature = "utoipa")]
    t.compile_fail("tests/macros/openapi-fail/*.rs");
    #[cfg(feature = "mandate")]
    t.pass("tests/macros/mandate-pass/*.rs");
}

/// Only without the `mandate` feature, alone (the other cases expect it on):
/// `cargo test --no-default-features --test compiletest capability_without`.
#[cfg(not(feature = "mandate"))]
#[test]
fn capability_without_the_mandate_feature() {
    trybuild::TestCases::new().compile_fail("tests/macros/mandate-off/*.rs");
}
