//! Compile-time behaviour of the macros: `tests/macros/pass` must build,
//! `tests/macros/fail` must fail with the message in the `.stderr` beside it.
//! The cases of `#[governance(openapi)]` need the `utoipa` feature; the case
//! of its absence runs in a build without it (`.ci/run` runs this test once
//! without `--all-features` for it).

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    t.pass("tests/macros/pass/*.rs");
    t.compile_fail("tests/macros/fail/*.rs");
    #[cfg(feature = "utoipa")]
    t.compile_fail("tests/macros/openapi-fail/*.rs");
    #[cfg(not(feature = "utoipa"))]
    t.compile_fail("tests/macros/no-utoipa-fail/*.rs");
}
