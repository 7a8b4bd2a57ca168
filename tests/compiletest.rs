//! Compile-time behaviour of the macros: `tests/macros/pass` must build,
//! `tests/macros/fail` must fail with the message in the `.stderr` beside it.
//! Their expected output is that of a build with the `utoipa` feature (the
//! README's `--all-features`), which the cases of `#[governance(openapi)]`
//! need. A build without it runs only the case of its absence,
//! `tests/macros/no-utoipa-fail` (`.ci/run` runs this test once without
//! `--all-features` for it).

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    #[cfg(feature = "utoipa")]
    {
        t.pass("tests/macros/pass/*.rs");
        t.compile_fail("tests/macros/fail/*.rs");
        t.compile_fail("tests/macros/openapi-fail/*.rs");
    }
    #[cfg(not(feature = "utoipa"))]
    t.compile_fail("tests/macros/no-utoipa-fail/*.rs");
}
