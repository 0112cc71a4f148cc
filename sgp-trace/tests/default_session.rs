//! A thread's default LLM session (`llm::default_session`), as it arrives on the server: the
//! LLM calls recorded under it take it at any depth, sync and async, unless they name their
//! own; spans that record no LLM call are left alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use sgp_trace::llm::{default_session, keys, LlmSpanExt};
use sgp_trace::{create_span, create_trace, traced};
use sgp_trace_tests::Harness;

#[traced(name = "retrieve")]
fn retrieve() -> usize {
    rank()
}

#[traced(name = "rank")]
fn rank() -> usize {
    sgp_trace::with_current_span(|span| span.set_llm_model("ranker-1"));
    3
}

#[traced(name = "complete")]
async fn complete() {
    tokio::task::yield_now().await;
    sgp_trace::with_current_span(|span| span.set_llm_model("echo-1"));
}

/// Polls a future with a default session entered, as an integration's wrapper does.
struct InSession<F> {
    session: Arc<str>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for InSession<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _session = default_session(self.session.clone());
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn llm_calls_under_a_default_session_take_it_unless_they_name_their_own() {
    let harness = Harness::start(|config| config);
    {
        let _trace = create_trace("conversation").start();
        {
            let _session = default_session("session-7");
            retrieve();
            let mut own = create_span("own")
                .metadata(keys::SESSION_ID, "session-of-its-own")
                .start();
            own.set_llm_model("echo-1");
            drop(own);
            let mut later = create_span("set later").start();
            later.set_llm_model("echo-1");
            later.set_llm_session("set-on-the-span");
        }
        let mut after = create_span("after").start();
        after.set_llm_model("echo-1");
        drop(after);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let task = InSession {
            session: Arc::from("session-8"),
            // Called on the first poll: a traced async fn starts its span when called.
            inner: Box::pin(async { complete().await }),
        };
        let context = sgp_trace::current_span().unwrap();
        runtime.block_on(async move {
            let _attached = context.attach();
            task.await
        });
    }
    let spans = harness.flushed_spans();
    let session = |name: &str| spans[name]["metadata"][keys::SESSION_ID].clone();
    assert!(session("retrieve").is_null(), "not an LLM call");
    assert_eq!(session("rank"), "session-7", "at any depth");
    assert_eq!(session("own"), "session-of-its-own");
    assert_eq!(session("set later"), "set-on-the-span");
    assert!(session("after").is_null(), "gone with its guard");
    assert!(session("conversation").is_null(), "started before it");
    assert_eq!(session("complete"), "session-8", "an async span");
    assert_eq!(spans["complete"]["metadata"][keys::MODEL], "echo-1");
}
