//! `#[traced]` on what users write compiles and runs (`tests/ui/pass/`, each case's `main`
//! asserts the spans it recorded); misuse is a compile error pointing at the offending token
//! (`tests/ui/fail/`, each message pinned by a `.stderr` file beside its case).

#[test]
fn pass() {
    trybuild::TestCases::new().pass("tests/ui/pass/*.rs");
}

/// rustc words its errors differently from release to release, so the `.stderr` files are
/// pinned to one toolchain and compared only there; the pass cases run on every toolchain.
/// To move the pin: change the version below, run
/// `TRYBUILD=overwrite cargo test -p sgp-trace-macros --test ui`, and review the `.stderr`
/// diff (the messages of the macro itself must not change).
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files are pinned to rustc 1.95; see the comment to re-bless"
)]
#[test]
fn fail() {
    trybuild::TestCases::new().compile_fail("tests/ui/fail/*.rs");
}
