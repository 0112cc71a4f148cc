//! `#[traced]` on async functions: context across `.await` and threads, cancellation,
//! panics, and `#[async_trait]` methods, end to end through the local collector.

mod traced_common;

use std::time::Duration;

use serde_json::{json, Value};
use sgp_trace::{create_trace, current_span, traced, SpanContext};
use traced_common::{named, spans, start, tree};

/// Yields a few times, checking after each resumption (possibly on another worker) that
/// this function's span is the current one.
#[traced]
async fn step(job: u32, index: u32) -> u32 {
    let mine = current_span().expect("a span is current inside a traced fn");
    for _ in 0..5 {
        tokio::task::yield_now().await;
        assert_eq!(
            current_span().as_ref(),
            Some(&mine),
            "the span is current on every poll"
        );
    }
    job * 10 + index
}

#[traced(name = "job", root)]
async fn job(job: u32) -> u32 {
    let first = step(job, 1).await;
    let second = step(job, 2).await;
    first + second
}

#[test]
fn interleaving_tasks_on_a_multi_thread_runtime_keep_their_own_trees() {
    let harness = start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let handles: Vec<_> = (1..=4).map(|n| tokio::spawn(job(n))).collect();
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await.unwrap());
        }
        // Nothing leaked into the worker threads' context.
        let leaked = tokio::spawn(async { current_span() }).await.unwrap();
        assert_eq!(leaked, None);
        results
    });
    assert_eq!(results, vec![23, 43, 63, 83]);
    let spans = spans(&harness);
    assert_eq!(spans.len(), 12);
    for root in spans.iter().filter(|span| span["name"] == "job") {
        let n = root["input"]["job"].as_u64().unwrap();
        let children: Vec<&Value> = spans
            .iter()
            .filter(|span| span["parent_id"] == root["id"])
            .collect();
        assert_eq!(children.len(), 2);
        for child in children {
            assert_eq!(child["name"], "traced_async::step");
            assert_eq!(child["trace_id"], root["trace_id"]);
            assert_eq!(child["input"]["job"], n);
            assert_eq!(child["status"], "SUCCESS");
        }
        assert_eq!(root["output"], json!({"value": n * 20 + 3}));
    }
}

#[traced(name = "spawned")]
async fn spawned() -> Option<SpanContext> {
    tokio::task::yield_now().await;
    current_span()
}

#[test]
fn the_parent_is_where_the_function_was_called_even_when_polled_elsewhere() {
    let harness = start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let trace = create_trace("caller").start();
    // Created here, polled on a worker thread where no span is current.
    let future = spawned();
    let inner = runtime.block_on(runtime.spawn(future)).unwrap();
    drop(trace);
    let spans = spans(&harness);
    assert_eq!(tree(&spans), "caller [SUCCESS]\n  spawned [SUCCESS]\n");
    assert_eq!(
        inner.unwrap().span_id.to_string(),
        named(&spans, "spawned")["id"].as_str().unwrap()
    );
}

#[traced(name = "waits forever")]
async fn waits_forever(label: &str) -> String {
    never_finishes().await;
    label.to_owned()
}

#[traced(name = "inner wait")]
async fn never_finishes() {
    std::future::pending::<()>().await
}

#[test]
fn a_future_dropped_by_a_timeout_ends_canceled_with_its_children() {
    let harness = start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let trace = create_trace("request").start();
    let result = runtime.block_on(async {
        tokio::time::timeout(Duration::from_millis(20), waits_forever("a")).await
    });
    assert!(result.is_err(), "the timeout fired");
    assert_eq!(current_span(), trace.context(), "the context is restored");
    drop(trace);
    let spans = spans(&harness);
    assert_eq!(
        tree(&spans),
        "request [SUCCESS]\n  waits forever [CANCELED]\n    inner wait [CANCELED]\n"
    );
    assert_eq!(
        named(&spans, "waits forever")["input"],
        json!({"label": "a"})
    );
    assert!(named(&spans, "waits forever")
        .get("output")
        .is_none_or(Value::is_null));
}

#[test]
fn a_future_dropped_before_its_first_poll_is_canceled() {
    let harness = start();
    let trace = create_trace("request").start();
    drop(waits_forever("never polled"));
    drop(trace);
    assert_eq!(
        tree(&spans(&harness)),
        "request [SUCCESS]\n  waits forever [CANCELED]\n"
    );
}

#[traced(name = "panics")]
async fn panics(after: u32) -> u32 {
    tokio::task::yield_now().await;
    if after > 0 {
        panic!("boom after {after}");
    }
    after
}

#[test]
fn a_panic_in_an_async_fn_fails_its_span_and_propagates_unchanged() {
    let harness = start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        let _trace = create_trace("request").start();
        tokio::spawn(panics(3)).await
    });
    let payload = outcome.unwrap_err().into_panic();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom after 3");
    let spans = spans(&harness);
    assert_eq!(tree(&spans), "request [SUCCESS]\n  panics [ERROR]\n");
    let metadata = &named(&spans, "panics")["metadata"];
    assert_eq!(metadata["error"], true);
    assert_eq!(metadata["error_type"], "panic");
    assert_eq!(metadata["error_message"], "boom after 3");
}

#[derive(Debug)]
struct NotFound(String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} not found", self.0)
    }
}

#[traced(name = "lookup")]
async fn lookup(key: &str) -> Result<u32, NotFound> {
    tokio::task::yield_now().await;
    match key {
        "one" => Ok(1),
        _ => Err(NotFound(key.to_owned())),
    }
}

#[traced(name = "sum")]
async fn sum(keys: Vec<&str>) -> Result<u32, NotFound> {
    let mut total = 0;
    for key in keys {
        total += lookup(key).await?;
    }
    Ok(total)
}

#[test]
fn errors_through_question_mark_in_async_fns() {
    let harness = start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let trace = create_trace("request").start();
    let result = runtime.block_on(sum(vec!["one", "two", "three"]));
    assert_eq!(result.unwrap_err().0, "two");
    drop(trace);
    let spans = spans(&harness);
    assert_eq!(
        tree(&spans),
        "request [SUCCESS]\n  sum [ERROR]\n    lookup [SUCCESS]\n    lookup [ERROR]\n"
    );
    let sum = named(&spans, "sum");
    assert_eq!(sum["input"], json!({"keys": ["one", "two", "three"]}));
    assert_eq!(sum["metadata"]["error_type"], "traced_async::NotFound");
    assert_eq!(sum["metadata"]["error_message"], "two not found");
    assert_eq!(sum["metadata"]["error_category"], "application");
    let ok = spans
        .iter()
        .find(|span| span["name"] == "lookup" && span["status"] == "SUCCESS")
        .unwrap();
    assert_eq!(ok["output"], json!({"value": 1}));
}

#[async_trait::async_trait]
trait Retriever {
    async fn retrieve(&self, query: &str, limit: usize) -> Result<Vec<String>, NotFound>;
}

struct Index {
    prefix: String,
}

#[async_trait::async_trait]
impl Retriever for Index {
    #[traced(type = "KB_RETRIEVAL")]
    async fn retrieve(&self, query: &str, limit: usize) -> Result<Vec<String>, NotFound> {
        let mine = current_span();
        tokio::task::yield_now().await;
        assert_eq!(current_span(), mine);
        if limit == 0 {
            return Err(NotFound(query.to_owned()));
        }
        Ok((0..limit)
            .map(|i| format!("{}{query}{i}", self.prefix))
            .collect())
    }
}

#[test]
fn async_trait_methods_are_instrumented() {
    let harness = start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let index = Index {
        prefix: "doc-".to_owned(),
    };
    let trace = create_trace("request").start();
    let found = runtime.block_on(index.retrieve("q", 2)).unwrap();
    assert_eq!(found, ["doc-q0", "doc-q1"]);
    let retriever: &dyn Retriever = &index;
    assert!(runtime.block_on(retriever.retrieve("none", 0)).is_err());
    drop(trace);
    let spans = spans(&harness);
    let name = "<traced_async::Index as traced_async::Retriever>::retrieve";
    assert_eq!(
        tree(&spans),
        format!("request [SUCCESS]\n  {name} [SUCCESS]\n  {name} [ERROR]\n")
    );
    let ok = spans
        .iter()
        .find(|span| span["status"] == "SUCCESS" && span["name"] == name)
        .unwrap();
    assert_eq!(ok["type"], "KB_RETRIEVAL");
    assert_eq!(ok["input"], json!({"query": "q", "limit": 2}));
    assert_eq!(ok["output"], json!({"value": ["doc-q0", "doc-q1"]}));
}
