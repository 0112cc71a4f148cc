//! Filters decide what is recorded: a span turned away is left out and the spans under it
//! go under its nearest recorded ancestor; and root spans may be left out unless a trace is
//! in scope.

use sgp_trace::create_trace;
use sgp_trace_tests::{tree, Harness};
use tracing::{debug_span, info_span};
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::prelude::*;

fn spans_under_filters() {
    let _kept = info_span!(target: "app", "kept").entered();
    let _debug = debug_span!(target: "app", "too detailed").entered();
    let _noisy = info_span!(target: "noisy", "from a noisy crate").entered();
    let _grandchild = info_span!(target: "app", "under the left out").entered();
}

#[test]
fn an_env_filter_for_the_whole_subscriber_decides_what_is_recorded() {
    let harness = Harness::start(|config| config);
    tracing_subscriber::registry()
        .with(EnvFilter::new("app=info"))
        .with(sgp_trace_tracing::layer())
        .init();
    spans_under_filters();
    assert_eq!(
        tree(&harness.flushed_spans()),
        "kept [SUCCESS]\n  under the left out [SUCCESS]\n"
    );
}

#[test]
fn a_per_layer_filter_decides_what_this_layer_records() {
    let harness = Harness::start(|config| config);
    let not_noisy = filter_fn(|metadata| metadata.target() != "noisy");
    tracing_subscriber::registry()
        .with(
            sgp_trace_tracing::layer()
                .with_filter(EnvFilter::new("info"))
                .with_filter(not_noisy),
        )
        .init();
    spans_under_filters();
    assert_eq!(
        tree(&harness.flushed_spans()),
        "kept [SUCCESS]\n  under the left out [SUCCESS]\n"
    );
}

#[test]
fn root_spans_can_be_left_out_unless_a_trace_is_in_scope() {
    let harness = Harness::start(|config| config);
    tracing_subscriber::registry()
        .with(sgp_trace_tracing::layer().start_traces(false))
        .init();
    info_span!("request without a trace").in_scope(|| {
        info_span!("its child").in_scope(|| {});
    });
    let _trace = create_trace("agent run").start();
    let parent = info_span!("step in a trace");
    parent.in_scope(|| info_span!("substep").in_scope(|| {}));
    let explicit = info_span!(parent: &parent, "explicit child");
    drop((explicit, parent, _trace));
    assert_eq!(
        tree(&harness.flushed_spans()),
        "agent run [SUCCESS]\n  step in a trace [SUCCESS]\n    explicit child [SUCCESS]\n    substep [SUCCESS]\n"
    );
}
