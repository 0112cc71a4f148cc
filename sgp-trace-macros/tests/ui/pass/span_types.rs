// Every span type name `type = "..."` accepts becomes the runtime's `SpanType` of that
// name, and the default types: STANDALONE for a child, TRACER for a root.

#[path = "../capture.rs"]
mod capture;

use sgp_trace::{traced, SpanType};

#[traced(name = "TEXT_INPUT", type = "TEXT_INPUT")]
fn text_input() {}

#[traced(name = "TEXT_OUTPUT", type = "TEXT_OUTPUT")]
fn text_output() {}

#[traced(name = "COMPLETION_INPUT", type = "COMPLETION_INPUT")]
fn completion_input() {}

#[traced(name = "COMPLETION", type = "COMPLETION")]
fn completion() {}

#[traced(name = "KB_RETRIEVAL", type = "KB_RETRIEVAL")]
fn kb_retrieval() {}

#[traced(name = "KB_INPUT", type = "KB_INPUT")]
fn kb_input() {}

#[traced(name = "RERANKING", type = "RERANKING")]
fn reranking() {}

#[traced(name = "EXTERNAL_ENDPOINT", type = "EXTERNAL_ENDPOINT")]
fn external_endpoint() {}

#[traced(name = "PROMPT_ENGINEERING", type = "PROMPT_ENGINEERING")]
fn prompt_engineering() {}

#[traced(name = "DOCUMENT_INPUT", type = "DOCUMENT_INPUT")]
fn document_input() {}

#[traced(name = "MAP_REDUCE", type = "MAP_REDUCE")]
fn map_reduce() {}

#[traced(name = "DOCUMENT_SEARCH", type = "DOCUMENT_SEARCH")]
fn document_search() {}

#[traced(name = "DOCUMENT_PROMPT", type = "DOCUMENT_PROMPT")]
fn document_prompt() {}

#[traced(name = "CUSTOM", type = "CUSTOM")]
fn custom() {}

#[traced(name = "CODE_EXECUTION", type = "CODE_EXECUTION")]
fn code_execution() {}

#[traced(name = "DATA_MANIPULATION", type = "DATA_MANIPULATION")]
fn data_manipulation() {}

#[traced(name = "EVALUATION", type = "EVALUATION")]
fn evaluation() {}

#[traced(name = "FILE_RETRIEVAL", type = "FILE_RETRIEVAL")]
fn file_retrieval() {}

#[traced(name = "KB_ADD_CHUNK", type = "KB_ADD_CHUNK")]
fn kb_add_chunk() {}

#[traced(name = "KB_MANAGEMENT", type = "KB_MANAGEMENT")]
fn kb_management() {}

#[traced(name = "GUARDRAIL", type = "GUARDRAIL")]
fn guardrail() {}

#[traced(name = "OUTPUT_GUARDRAIL", type = "OUTPUT_GUARDRAIL")]
fn output_guardrail() {}

#[traced(name = "TRACER", type = "TRACER")]
fn tracer() {}

#[traced(name = "AGENT_TRACER", type = "AGENT_TRACER")]
fn agent_tracer() {}

#[traced(name = "AGENT_WORKFLOW", type = "AGENT_WORKFLOW")]
fn agent_workflow() {}

#[traced(name = "STANDALONE", type = "STANDALONE")]
fn standalone() {}

#[traced]
fn default_child() {}

#[traced(root, name = "default root")]
fn default_root() {
    default_child();
    text_input();
    text_output();
    completion_input();
    completion();
    kb_retrieval();
    kb_input();
    reranking();
    external_endpoint();
    prompt_engineering();
    document_input();
    map_reduce();
    document_search();
    document_prompt();
    custom();
    code_execution();
    data_manipulation();
    evaluation();
    file_retrieval();
    kb_add_chunk();
    kb_management();
    guardrail();
    output_guardrail();
    tracer();
    agent_tracer();
    agent_workflow();
    standalone();
}

fn main() {
    let _guard = capture::start();
    default_root();

    let spans = capture::ended();
    assert_eq!(spans.len(), 2 + 26, "{spans:#?}");
    assert_eq!(
        capture::named(&spans, "default root").span_type,
        SpanType::Tracer
    );
    assert_eq!(
        capture::named(&spans, "::default_child").span_type,
        SpanType::Standalone
    );
    let typed = spans.iter().filter(|span| {
        span.name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_')
    });
    let mut names: Vec<&str> = typed
        .map(|span| {
            assert_eq!(
                span.span_type.as_str(),
                span.name,
                "the type named in the attribute"
            );
            span.span_type.as_str()
        })
        .collect();
    names.sort_unstable();
    let mut all: Vec<&str> = SpanType::ALL.iter().map(|kind| kind.as_str()).collect();
    all.sort_unstable();
    assert_eq!(
        names, all,
        "each runtime type is reachable through the attribute"
    );
}
