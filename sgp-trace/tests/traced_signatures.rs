//! `#[traced]` keeps every kind of signature compiling and records it: methods, generics,
//! lifetimes, `impl Trait`, `unsafe fn`, patterns, and async versions of them.

mod traced_common;

use std::collections::HashMap;
use std::fmt::Display;

use serde_json::{json, Value};
use sgp_trace::{create_trace, traced};
use traced_common::{spans, start, tree};

#[derive(Debug, Default)]
struct Store {
    items: HashMap<String, u32>,
}

impl Store {
    #[traced]
    fn new() -> Self {
        Store::default()
    }

    #[traced]
    fn insert(&mut self, key: &str, value: u32) -> Option<u32> {
        self.items.insert(key.to_owned(), value)
    }

    #[traced(record_self)]
    fn get<'a>(&'a self, key: &str) -> Option<&'a u32> {
        self.items.get(key)
    }

    #[traced(no_output)]
    fn value_mut(&mut self, key: &str) -> &mut u32 {
        self.items.entry(key.to_owned()).or_default()
    }

    #[traced]
    fn into_len(self) -> usize {
        self.items.len()
    }

    #[traced]
    async fn get_async(&self, key: &str) -> Option<u32> {
        tokio::task::yield_now().await;
        self.items.get(key).copied()
    }

    #[traced]
    async fn bump(&mut self, key: &str) -> u32 {
        tokio::task::yield_now().await;
        let value = self.items.entry(key.to_owned()).or_default();
        *value += 1;
        *value
    }
}

trait Describe {
    fn describe(&self, verbose: bool) -> String;
}

impl Describe for Store {
    #[traced]
    fn describe(&self, verbose: bool) -> String {
        if verbose {
            format!("{:?}", self.items)
        } else {
            self.items.len().to_string()
        }
    }
}

struct Borrowed<'a> {
    text: &'a str,
}

impl<'a> Borrowed<'a> {
    #[traced]
    async fn text_len(&self, extra: &str) -> usize {
        tokio::task::yield_now().await;
        self.text.len() + extra.len()
    }
}

#[traced]
fn largest<T, U>(items: &[T], label: U) -> Option<String>
where
    T: PartialOrd + Display + serde::Serialize,
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

/// # Safety
/// `pointer` must be valid for reads.
#[traced]
unsafe fn read(pointer: *const u32) -> u32 {
    // SAFETY: the caller vouches that `pointer` is valid for reads.
    unsafe { *pointer }
}

struct Point {
    x: i32,
    y: i32,
}

#[traced]
fn patterns((a, b): (i32, i32), Point { x, y: mut height }: Point, _: u8) -> i32 {
    height += 1;
    a + b + x + height
}

#[traced]
async fn async_generic<T: Display + Send>(value: T, times: usize) -> String {
    tokio::task::yield_now().await;
    value.to_string().repeat(times)
}

#[traced]
async fn async_patterns((a, mut b): (u8, u8), text: impl AsRef<str>) -> usize {
    b += 1;
    tokio::task::yield_now().await;
    usize::from(a + b) + text.as_ref().len()
}

#[test]
fn methods_generics_lifetimes_impl_trait_unsafe_and_patterns() {
    let harness = start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let trace = create_trace("request").start();

    let mut store = Store::new();
    assert_eq!(store.insert("a", 1), None);
    assert_eq!(store.get("a"), Some(&1));
    assert_eq!(store.describe(false), "1");
    assert_eq!(runtime.block_on(store.get_async("a")), Some(1));
    assert_eq!(runtime.block_on(store.bump("a")), 2);
    *store.value_mut("a") += 1;
    assert_eq!(store.items["a"], 3);
    assert_eq!(store.into_len(), 1);
    let text = String::from("four");
    let borrowed = Borrowed { text: &text };
    assert_eq!(runtime.block_on(borrowed.text_len("xy")), 6);
    assert_eq!(largest(&[3, 9, 4], "max").as_deref(), Some("max: 9"));
    assert_eq!(largest::<u8, _>(&[], "none"), None);
    assert_eq!(joined([1, 2, 3]).to_string(), "1,2,3");
    assert_eq!(first_word("hello world"), "hello");
    let value = 41;
    // SAFETY: a valid reference.
    assert_eq!(unsafe { read(&value) }, 41);
    assert_eq!(patterns((1, 2), Point { x: 3, y: 4 }, 0), 11);
    assert_eq!(runtime.block_on(async_generic("ab", 2)), "abab");
    assert_eq!(runtime.block_on(async_patterns((1, 2), "xyz")), 7);
    drop(trace);

    let spans = spans(&harness);
    let expected = [
        "traced_signatures::Store::new",
        "traced_signatures::Store::insert",
        "traced_signatures::Store::get",
        "<traced_signatures::Store as traced_signatures::Describe>::describe",
        "traced_signatures::Store::get_async",
        "traced_signatures::Store::bump",
        "traced_signatures::Store::value_mut",
        "traced_signatures::Store::into_len",
        "traced_signatures::Borrowed::text_len",
        "traced_signatures::largest",
        "traced_signatures::largest",
        "traced_signatures::joined",
        "traced_signatures::first_word",
        "traced_signatures::read",
        "traced_signatures::patterns",
        "traced_signatures::async_generic",
        "traced_signatures::async_patterns",
    ];
    let mut lines = String::from("request [SUCCESS]\n");
    for name in expected {
        lines.push_str(&format!("  {name} [SUCCESS]\n"));
    }
    assert_eq!(tree(&spans), lines);

    let input = |name: &str| -> Vec<Value> {
        spans
            .iter()
            .filter(|span| span["name"].as_str().unwrap().ends_with(name))
            .map(|span| span["input"].clone())
            .collect()
    };
    let output = |name: &str| -> Value {
        spans
            .iter()
            .find(|span| span["name"].as_str().unwrap().ends_with(name))
            .map(|span| span["output"].clone())
            .unwrap()
    };
    assert_eq!(input("::insert"), [json!({"key": "a", "value": 1})]);
    assert_eq!(output("::insert"), json!({"value": null}));
    assert_eq!(
        input("::get"),
        [json!({"self": "Store { items: {\"a\": 1} }", "key": "a"})],
        "record_self records self (by Debug here)"
    );
    assert_eq!(
        input("::describe"),
        [json!({"verbose": false})],
        "self is left out"
    );
    assert_eq!(input("::bump"), [json!({"key": "a"})]);
    assert_eq!(output("::bump"), json!({"value": 2}));
    assert_eq!(input("::text_len"), [json!({"extra": "xy"})]);
    assert_eq!(
        input("::largest"),
        [
            json!({"items": [3, 9, 4], "label": "<&str>"}),
            json!({"items": [], "label": "<&str>"}),
        ]
    );
    assert_eq!(output("::largest"), json!({"value": "max: 9"}));
    // A generic argument is recorded through the bounds the function declares; with
    // neither `Serialize` nor `Debug` among them, the placeholder names the concrete type.
    assert_eq!(input("::joined"), [json!({"parts": "<[i32; 3]>"})]);
    // An `impl Trait` return value is recorded as its concrete type inside the function.
    assert_eq!(output("::joined"), json!({"value": "1,2,3"}));
    assert_eq!(output("::first_word"), json!({"value": "hello"}));
    assert_eq!(output("::read"), json!({"value": 41}));
    assert_eq!(
        input("::patterns"),
        [json!({"a": 1, "b": 2, "x": 3, "height": 4})]
    );
    assert_eq!(
        input("::async_generic"),
        [json!({"value": "<&str>", "times": 2})]
    );
    assert_eq!(
        input("::async_patterns"),
        [json!({"a": 1, "b": 2, "text": "<&str>"})]
    );
    assert_eq!(output("::async_patterns"), json!({"value": 7}));
}
