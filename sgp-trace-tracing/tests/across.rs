//! Nesting across threads and tokio tasks: a `tracing` span entered elsewhere is the parent
//! of the SGP spans made there, and `.instrument(span)` futures keep their parent on any
//! worker.

use std::time::Duration;

use sgp_trace::{create_span, traced};
use sgp_trace_tests::{tree_of, Harness, ACCOUNT};
use tracing::{info_span, Instrument};
use tracing_subscriber::prelude::*;

fn install() {
    tracing_subscriber::registry()
        .with(sgp_trace_tracing::layer())
        .init();
}

#[traced]
fn on_thread(index: usize) {
    let _leaf = info_span!("leaf", index).entered();
}

#[test]
fn a_tracing_span_entered_on_other_threads_is_the_parent_there() {
    let harness = Harness::start(|config| config);
    install();
    let root = info_span!("fan out");
    let workers: Vec<_> = (0..3)
        .map(|index| {
            let worker = info_span!(parent: &root, "worker", index);
            std::thread::spawn(move || {
                let _entered = worker.enter();
                on_thread(index);
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    drop(root);
    sgp_trace::flush_queue_within(Duration::from_secs(20)).unwrap();
    let spans = harness.collector.spans(ACCOUNT);

    let worker = "  worker [SUCCESS]\n    across::on_thread [SUCCESS]\n      leaf [SUCCESS]\n";
    assert_eq!(
        tree_of(&spans),
        format!("fan out [SUCCESS]\n{}", worker.repeat(3))
    );
}

#[traced]
async fn fetch(page: usize) -> usize {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let _sync = create_span("parse").start();
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_futures_keep_their_parent_across_tasks_and_workers() {
    let harness = Harness::start(|config| config);
    install();
    let root = info_span!("crawl");
    let tasks: Vec<_> = (0..4)
        .map(|page| {
            let task = async move {
                tokio::task::yield_now().await;
                fetch(page).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
                info_span!("store").in_scope(|| {});
            };
            tokio::spawn(task.instrument(info_span!(parent: &root, "page task", page)))
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    async {
        fetch(99).await;
    }
    .instrument(root)
    .await;
    let harness = tokio::task::spawn_blocking(move || {
        sgp_trace::flush_queue_within(Duration::from_secs(20)).unwrap();
        harness
    })
    .await
    .unwrap();
    let spans = harness.collector.spans(ACCOUNT);

    let fetch = "across::fetch [SUCCESS]\n";
    let task =
        format!("  page task [SUCCESS]\n    {fetch}      parse [SUCCESS]\n    store [SUCCESS]\n");
    assert_eq!(
        tree_of(&spans),
        format!(
            "crawl [SUCCESS]\n  {fetch}    parse [SUCCESS]\n{}",
            task.repeat(4)
        )
    );
}
