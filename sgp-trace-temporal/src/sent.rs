//! The workflow-side span events this worker process has recorded, so that each goes out once.
//!
//! Workflow spans have deterministic ids and are recorded outside replay only, but on a
//! worker without a workflow cache the SDK was seen running a workflow's first activation
//! again, not marked as replay, when a later task (an update, a rejected update) came in: the
//! same events, with the same ids, would be recorded twice. They are remembered here by span
//! id and event (start or end) in a bounded set; the oldest are forgotten first, and each
//! event not recorded again is counted.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sgp_trace::{Id, SpanItem};

/// How many events are remembered: a repeat comes within one workflow's run on this worker,
/// so a window of the latest events is enough. About a hundred bytes each.
const CAPACITY: usize = 16_384;

/// A span's event: its id, and whether it is the end.
type Event = (Id, bool);

struct Remembered {
    events: HashSet<Event>,
    order: VecDeque<Event>,
    capacity: usize,
}

impl Remembered {
    fn new(capacity: usize) -> Remembered {
        Remembered {
            events: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Remembers `event`; `false` when it already was.
    fn first_time(&mut self, event: Event) -> bool {
        if self.events.contains(&event) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.events.remove(&oldest);
            }
        }
        self.events.insert(event.clone());
        self.order.push_back(event);
        true
    }
}

static RECORDED: Mutex<Option<Remembered>> = Mutex::new(None);
static REPEATS_SKIPPED: AtomicU64 = AtomicU64::new(0);

/// Records a workflow-side span event (a start, or an end) unless this process already did.
pub(crate) fn record_once(item: SpanItem) {
    let event = (item.id.clone(), item.end_timestamp.is_some());
    let first = {
        let mut recorded = RECORDED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        recorded
            .get_or_insert_with(|| Remembered::new(CAPACITY))
            .first_time(event)
    };
    if first {
        sgp_trace::record_item(item);
    } else {
        REPEATS_SKIPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// How many workflow span events this process did not send again because it had already
/// sent them: events the SDK made a worker without a workflow cache run again outside replay
/// (see the crate's README). A span whose event was forgotten meanwhile (the latest 16 384
/// are remembered) is sent again with the same id: SGP's upsert keeps one span.
pub fn repeated_events_skipped() -> u64 {
    REPEATS_SKIPPED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u32, end: bool) -> Event {
        (Id::new(format!("span-{n}")).unwrap(), end)
    }

    #[test]
    fn each_event_once_within_the_window_and_the_oldest_forgotten_first() {
        let mut remembered = Remembered::new(3);
        assert!(remembered.first_time(event(1, false)));
        assert!(
            remembered.first_time(event(1, true)),
            "the end is another event"
        );
        assert!(!remembered.first_time(event(1, false)), "a repeat");
        assert!(remembered.first_time(event(2, true)));
        assert!(remembered.first_time(event(3, true)));
        assert_eq!(remembered.events.len(), 3, "bounded");
        assert!(
            remembered.first_time(event(1, false)),
            "the oldest was forgotten"
        );
        assert!(!remembered.first_time(event(3, true)));
    }
}
