//! Compile-time behaviour of the macros: `tests/macros/pass` must build,
//! `tests/macros/fail` must fail with the message in the `.stderr` beside it.
//! The cases of `#[governance(openapi)]` need the `utoipa` feature.

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    t.pass("tests/macros/pass/*.rs");
    t.compile_fail("tests/macros/fail/*.rs");
    #[cfg(feature = "utoipa")]
    t.compile_fail("tests/macros/openapi-fail/*.rs");
}
