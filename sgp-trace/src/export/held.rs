//! Spans of traces the sampler dropped, held on the export thread when
//! `keep_error_traces` is on: released into the queue if a span of their trace fails,
//! discarded when the trace's root ends without an error.

use std::collections::VecDeque;

use crate::model::{Id, SpanItem, SpanStatus};

/// At most this many held events; beyond it the oldest trace is discarded.
const MAX_HELD_EVENTS: usize = 20_000;

/// At most this many traces remembered as kept for an error; beyond it the memory is reset
/// (a later span of such a trace is then held again, and released by the next error).
const MAX_KEPT_TRACES: usize = 10_000;

#[derive(Default)]
pub(crate) struct Held {
    traces: rustc_hash::FxHashMap<Id, Vec<SpanItem>>,
    /// Traces in the order they were first held, for discarding the oldest.
    order: VecDeque<Id>,
    count: usize,
    kept: rustc_hash::FxHashSet<Id>,
}

/// What became of a held event.
pub(crate) struct Outcome {
    /// Events to send: the trace turned out to have an error.
    pub(crate) released: Vec<SpanItem>,
    /// Events discarded: their trace ended without error, or the hold was full.
    pub(crate) discarded: usize,
}

impl Held {
    pub(crate) fn accept(&mut self, item: SpanItem) -> Outcome {
        let mut outcome = Outcome {
            released: Vec::new(),
            discarded: 0,
        };
        let trace = item.trace_id.clone();
        if self.kept.contains(&trace) {
            outcome.released.push(item);
            return outcome;
        }
        if item.status == Some(SpanStatus::Error) {
            if self.kept.len() >= MAX_KEPT_TRACES {
                self.kept.clear();
            }
            self.kept.insert(trace.clone());
            outcome.released = self.remove(&trace);
            outcome.released.push(item);
            return outcome;
        }
        let root_ended = item.is_complete() && item.parent_id.is_none();
        if root_ended {
            outcome.discarded = self.remove(&trace).len() + 1;
            return outcome;
        }
        if !self.traces.contains_key(&trace) {
            self.order.push_back(trace.clone());
        }
        self.traces.entry(trace).or_default().push(item);
        self.count += 1;
        while self.count > MAX_HELD_EVENTS {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            outcome.discarded += self.remove(&oldest).len();
        }
        outcome
    }

    fn remove(&mut self, trace: &Id) -> Vec<SpanItem> {
        let items = self.traces.remove(trace).unwrap_or_default();
        self.count -= items.len();
        if !items.is_empty() {
            self.order.retain(|held| held != trace);
        }
        items
    }

    /// Everything still held, at shutdown: discarded, as their traces had no error so far.
    pub(crate) fn discard_all(&mut self) -> usize {
        let count = self.count;
        self.traces.clear();
        self.order.clear();
        self.count = 0;
        count
    }
}
