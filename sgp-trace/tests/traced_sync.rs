//! `#[traced]` on synchronous functions, end to end through the local collector.

mod traced_common;

use serde_json::json;
use sgp_trace::{create_trace, current_span, traced};
use traced_common::{named, spans, start, tree};

#[traced]
fn leaf(x: u32) -> u32 {
    x * 2
}

#[traced(name = "middle", type = "AGENT_WORKFLOW")]
fn middle(x: u32) -> u32 {
    leaf(x) + 1
}

#[traced(name = "outer", root)]
fn outer(x: u32) -> u32 {
    middle(x) + leaf(1)
}

#[test]
fn three_deep_nesting_with_names_types_input_and_output() {
    let harness = start();
    assert_eq!(outer(5), 13);
    assert_eq!(current_span(), None);
    let spans = spans(&harness);
    assert_eq!(
        tree(&spans),
        "outer [SUCCESS]\n  middle [SUCCESS]\n    traced_sync::leaf [SUCCESS]\n  traced_sync::leaf [SUCCESS]\n"
    );
    let outer = named(&spans, "outer");
    assert_eq!(outer["type"], "TRACER");
    assert_eq!(outer["input"], json!({"x": 5}));
    assert_eq!(outer["output"], json!({"value": 13}));
    let middle = named(&spans, "middle");
    assert_eq!(middle["type"], "AGENT_WORKFLOW");
    assert_eq!(middle["output"], json!({"value": 11}));
}

#[test]
fn without_a_trace_in_scope_nothing_is_recorded() {
    let harness = start();
    assert_eq!(middle(1), 3);
    let trace = create_trace("t").start();
    assert_eq!(leaf(2), 4);
    drop(trace);
    assert_eq!(
        tree(&spans(&harness)),
        "t [SUCCESS]\n  traced_sync::leaf [SUCCESS]\n"
    );
}

#[derive(serde::Serialize)]
struct Login {
    user: &'static str,
    api_key: &'static str,
}

#[traced]
fn sign_in(user: &str, password: &str, attempt: u32) -> bool {
    !user.is_empty() && !password.is_empty() && attempt < 3
}

#[traced]
fn connect(login: &Login, retries: u32) -> Login {
    Login {
        user: login.user,
        api_key: if retries > 0 { "sk-new" } else { login.api_key },
    }
}

#[traced]
fn ask(question: &str, max_tokens: u32) -> &'static str {
    if question.is_empty() || max_tokens == 0 {
        ""
    } else {
        "an answer"
    }
}

/// Arguments named after credentials, and credentials nested in arguments and return
/// values, are redacted; plain arguments (scalars under names that are no credential, whose
/// payloads the export thread does not scan) arrive as they were.
#[test]
fn credentials_in_arguments_and_return_values_are_redacted() {
    let harness = start();
    {
        let _trace = create_trace("session").start();
        assert!(sign_in("ada", "hunter2", 1));
        let login = Login {
            user: "ada",
            api_key: "sk-old",
        };
        assert_eq!(connect(&login, 1).api_key, "sk-new");
        assert_eq!(ask("what is sgp?", 256), "an answer");
    }
    let spans = spans(&harness);
    let redacted = sgp_trace::REDACTED;
    assert_eq!(
        named(&spans, "traced_sync::sign_in")["input"],
        json!({"user": "ada", "password": redacted, "attempt": 1})
    );
    let connect = named(&spans, "traced_sync::connect");
    assert_eq!(
        connect["input"],
        json!({"login": {"user": "ada", "api_key": redacted}, "retries": 1})
    );
    assert_eq!(
        connect["output"],
        json!({"user": "ada", "api_key": redacted})
    );
    let ask = named(&spans, "traced_sync::ask");
    assert_eq!(
        ask["input"],
        json!({"question": "what is sgp?", "max_tokens": 256})
    );
    assert_eq!(ask["output"], json!({"value": "an answer"}));
    assert_eq!(sgp_trace::stats().redacted_values, 3);
}
