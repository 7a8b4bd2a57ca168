//! Compile-time behaviour of the macros: `tests/macros/pass` must build,
//! `tests/macros/fail` must fail with the message in the `.stderr` beside it.
//! Their expected output is that of a build with every feature (the README's
//! `--all-features`), which the cases of `#[governance(openapi)]`, of
//! `#[governed(capability = …)]` and of `#[governed(tool = …)]` and
//! `#[tappass::guard]` need (and `tests/macros/mcp-*`, the cases of
//! `#[tappass::mcp::governed]`, that of feature `mcp` too). A build without
//! the `utoipa` and `mandate` features runs only the cases of their absence
//! (`tests/macros/no-utoipa-fail`, `tests/macros/mandate-off`): `.ci/run`
//! runs `cargo test --no-default-features --test compiletest` for them.
//! The absence of `capability` (`__capability!` and `__guard!`, the same
//! one-error arms as `__mandate!`'s) has no case here: every build of this
//! package has it, through `tappass-dev`, a dev-dependency that mints
//! capability tokens with `tappass`.

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    #[cfg(all(feature = "utoipa", feature = "mandate"))]
    {
        t.pass("tests/macros/pass/*.rs");
        t.compile_fail("tests/macros/fail/*.rs");
        t.compile_fail("tests/macros/openapi-fail/*.rs");
        t.pass("tests/macros/mandate-pass/*.rs");
        t.pass("tests/macros/capability-pass/*.rs");
    }
    // `#[tappass::mcp::governed]`: its project reaches `tappass/mcp` through
    // the entry `utoipa` turns on (the root manifest says why).
    #[cfg(all(feature = "utoipa", feature = "mcp"))]
    {
        t.pass("tests/macros/mcp-pass/*.rs");
        t.compile_fail("tests/macros/mcp-fail/*.rs");
    }
    #[cfg(not(feature = "utoipa"))]
    t.compile_fail("tests/macros/no-utoipa-fail/*.rs");
    #[cfg(not(feature = "mandate"))]
    t.compile_fail("tests/macros/mandate-off/*.rs");
}
