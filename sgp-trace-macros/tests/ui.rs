//! Misuse of `#[traced]` is a compile error pointing at the offending token; each message
//! is pinned by a `.stderr` file beside its case in `tests/ui/`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
