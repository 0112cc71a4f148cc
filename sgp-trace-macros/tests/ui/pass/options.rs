// Every option of `#[traced(...)]`: name, type, skip, skip_all, no_output, record_self,
// metadata, root and root(group_id = ...), alone and together.

#[path = "../capture.rs"]
mod capture;

use sgp_trace::{traced, SpanType};

#[traced(name = "named span")]
fn named() {}

#[traced(type = "KB_RETRIEVAL")]
fn typed(query: &str) -> usize {
    query.len()
}

#[traced(skip(secret, _unused))]
fn skipping(query: &str, secret: &str, _unused: u8) -> usize {
    query.len() + secret.len()
}

#[traced(skip_all)]
fn skipping_all(query: &str) -> usize {
    query.len()
}

#[traced(no_output)]
fn quiet(value: u8) -> u8 {
    value
}

#[derive(Debug)]
struct Index {
    size: u8,
}

impl Index {
    #[traced(record_self)]
    fn size(&self) -> u8 {
        self.size
    }

    #[traced(skip(self, r#type))]
    fn kind(&self, r#type: &str) -> String {
        r#type.to_owned()
    }
}

fn model_name() -> String {
    String::from("gpt-x")
}

#[traced(metadata(model = model_name(), "max-tokens" = 256, r#type = ["a", "b"]))]
fn with_metadata() {}

#[traced(root(group_id = format!("session-{}", 7)), type = "AGENT_TRACER")]
fn grouped() {}

#[traced(
    root,
    name = "request",
    type = "AGENT_WORKFLOW",
    skip(token),
    no_output,
    metadata(version = 2)
)]
fn request(question: &str, token: &str) -> usize {
    named();
    typed(question);
    skipping("abc", token, 0);
    skipping_all("abcd");
    quiet(1);
    let index = Index { size: 3 };
    index.size();
    index.kind("vector");
    with_metadata();
    grouped();
    question.len()
}

fn main() {
    let _guard = capture::start();
    assert_eq!(request("what?", "secret-token"), 5);

    let spans = capture::ended();
    assert_eq!(spans.len(), 10, "{spans:#?}");
    let request = capture::named(&spans, "request");
    assert_eq!(request.parent_id, None, "root starts a trace");
    assert_eq!(request.span_type, SpanType::AgentWorkflow);
    assert_eq!(capture::input(request), r#"{"question":"what?"}"#);
    assert_eq!(capture::output(request), "");
    assert_eq!(capture::metadata(request, "version"), "2");
    assert_eq!(
        capture::named(&spans, "named span").parent_id,
        Some(request.id.clone())
    );
    assert_eq!(
        capture::named(&spans, "::typed").span_type,
        SpanType::KbRetrieval
    );
    let skipping = capture::named(&spans, "::skipping");
    assert_eq!(capture::input(skipping), r#"{"query":"abc"}"#);
    assert_eq!(capture::output(skipping), r#"{"value":15}"#);
    let skipping_all = capture::named(&spans, "::skipping_all");
    assert_eq!(
        (capture::input(skipping_all), capture::output(skipping_all)),
        ("", r#"{"value":4}"#)
    );
    let quiet = capture::named(&spans, "::quiet");
    assert_eq!(
        (capture::input(quiet), capture::output(quiet)),
        (r#"{"value":1}"#, "")
    );
    assert_eq!(
        capture::input(capture::named(&spans, "::size")),
        r#"{"self":"Index { size: 3 }"}"#
    );
    assert_eq!(capture::input(capture::named(&spans, "::kind")), "");
    let with_metadata = capture::named(&spans, "::with_metadata");
    assert_eq!(capture::metadata(with_metadata, "model"), r#""gpt-x""#);
    assert_eq!(capture::metadata(with_metadata, "max-tokens"), "256");
    assert_eq!(capture::metadata(with_metadata, "type"), r#"["a","b"]"#);
    let grouped = capture::named(&spans, "::grouped");
    assert_eq!(grouped.span_type, SpanType::AgentTracer);
    assert_eq!(
        grouped
            .group_id
            .as_ref()
            .map(|id| id.to_string())
            .as_deref(),
        Some("session-7")
    );
    assert_ne!(
        grouped.trace_id, request.trace_id,
        "a root inside a trace starts its own"
    );
}
