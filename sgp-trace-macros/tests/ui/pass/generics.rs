// Type parameters with bounds and `where` clauses, lifetimes, const generics, `impl Trait`
// arguments and return types, and patterns as arguments.

#[path = "../capture.rs"]
mod capture;

use std::fmt::Display;

use sgp_trace::{create_trace, traced};

#[traced]
fn largest<T, U>(items: &[T], label: U) -> Option<String>
where
    T: PartialOrd + Display,
    U: AsRef<str>,
{
    let mut best = items.first()?;
    for item in items {
        if item > best {
            best = item;
        }
    }
    Some(format!("{}: {best}", label.as_ref()))
}

#[traced]
fn joined(parts: impl IntoIterator<Item = impl Display>) -> impl Display {
    parts
        .into_iter()
        .map(|part| part.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[traced]
fn first_word<'s>(text: &'s str) -> &'s str {
    text.split(' ').next().unwrap_or_default()
}

#[traced]
fn sum<const N: usize>(values: [u8; N]) -> usize {
    values.iter().map(|value| usize::from(*value)).sum()
}

#[traced]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|value| value % 2 == 0)
}

#[traced]
fn swap((left, right): (u8, char), _: bool) -> (char, u8) {
    (right, left)
}

#[traced]
async fn repeat<T: Display + Send>(value: T, times: usize) -> String {
    value.to_string().repeat(times)
}

#[traced]
async fn count(items: impl IntoIterator<Item = u8>) -> usize {
    items.into_iter().count()
}

fn main() {
    let _guard = capture::start();
    let trace = create_trace("request").start();
    assert_eq!(largest(&[3, 9, 4], "max").as_deref(), Some("max: 9"));
    assert_eq!(joined([1, 2, 3]).to_string(), "1,2,3");
    assert_eq!(first_word("hello world"), "hello");
    assert_eq!(sum([1, 2, 3, 4]), 10);
    assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(swap((7, 'x'), true), ('x', 7));
    assert_eq!(capture::block_on(repeat("ab", 2)), "abab");
    assert_eq!(capture::block_on(count(vec![1, 2])), 2);
    drop(trace);

    let spans = capture::ended();
    assert_eq!(spans.len(), 1 + 8, "{spans:#?}");
    // A generic argument without `Serialize` or `Debug` among its bounds is a placeholder.
    assert_eq!(
        capture::input(capture::named(&spans, "::largest")),
        r#"{"items":"<&[i32]>","label":"<&str>"}"#
    );
    assert_eq!(
        capture::output(capture::named(&spans, "::first_word")),
        r#"{"value":"hello"}"#
    );
    assert_eq!(
        capture::output(capture::named(&spans, "::sum")),
        r#"{"value":10}"#
    );
    assert_eq!(
        capture::input(capture::named(&spans, "::swap")),
        r#"{"left":7,"right":"x"}"#
    );
}
