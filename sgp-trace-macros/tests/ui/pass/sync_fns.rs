// Plain functions: no arguments, arguments, a returned value, `()`, nesting.

#[path = "../capture.rs"]
mod capture;

use sgp_trace::{create_trace, traced, SpanStatus, SpanType};

#[traced]
fn nothing() {}

#[traced]
fn add(left: u32, right: u32) -> u32 {
    left + right
}

#[traced]
fn greet(name: &str, excited: bool) -> String {
    let mark = if excited { "!" } else { "." };
    format!("hello {name}{mark}")
}

#[traced]
fn outer(items: Vec<u32>) -> u32 {
    nothing();
    items.into_iter().fold(0, add)
}

fn main() {
    let _guard = capture::start();
    let trace = create_trace("request").start();
    assert_eq!(greet("ada", true), "hello ada!");
    assert_eq!(outer(vec![1, 2, 3]), 6);
    drop(trace);

    let spans = capture::ended();
    assert_eq!(spans.len(), 1 + 1 + 1 + 1 + 3, "{spans:#?}");
    let request = capture::named(&spans, "request");
    let greet = capture::named(&spans, "::greet");
    assert_eq!(greet.name, format!("{}::greet", module_path!()));
    assert_eq!(greet.parent_id, Some(request.id.clone()));
    assert_eq!(greet.span_type, SpanType::Standalone);
    assert_eq!(greet.status, Some(SpanStatus::Success));
    assert_eq!(capture::input(greet), r#"{"name":"ada","excited":true}"#);
    assert_eq!(capture::output(greet), r#"{"value":"hello ada!"}"#);
    let outer = capture::named(&spans, "::outer");
    assert_eq!(
        capture::named(&spans, "::nothing").parent_id,
        Some(outer.id.clone())
    );
    assert_eq!(capture::output(capture::named(&spans, "::nothing")), "");
    assert_eq!(capture::output(outer), r#"{"value":6}"#);
}
