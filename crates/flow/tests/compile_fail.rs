//! Misuse of the flow that must not compile. Each file under `tests/ui/` is one misuse,
//! with the compiler's expected message beside it in a `.stderr` file.
//!
//! The messages are those of the toolchain CI uses (stable 1.95); regenerate them with
//! `TRYBUILD=overwrite cargo test -p zoho-oauth-flow --test compile_fail` after a toolchain change.

#[test]
fn misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
