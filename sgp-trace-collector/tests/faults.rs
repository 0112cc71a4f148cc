//! Fault injection and the request log.

mod common;

use std::time::{Duration, Instant};

use common::{item, Api};
use sgp_trace_collector::{Collector, CollectorConfig};

#[test]
fn fail_next_answers_span_writes_with_the_status_and_retry_after() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    c.faults()
        .fail_next(2, 503, Some(Duration::from_millis(1500)));
    let a = api.upsert(vec![item("t", "a", None, "r", 0, None)]);
    assert_eq!((a.status, a.retry_after.as_deref()), (503, Some("2")));
    // Reads are not span writes: they pass.
    assert_eq!(api.search(serde_json::json!({})).status, 200);
    assert_eq!(c.faults().pending_failures(), 1);
    assert_eq!(
        api.upsert(vec![item("t", "a", None, "r", 0, None)]).status,
        503
    );
    assert!(
        c.spans("acct").is_empty(),
        "a failed request stores nothing"
    );
    assert_eq!(
        api.upsert(vec![item("t", "a", None, "r", 0, None)]).status,
        200
    );

    c.faults().fail_next(1, 429, None);
    let a = api.upsert(vec![item("t", "a", None, "r", 0, None)]);
    assert_eq!((a.status, a.retry_after), (429, None));

    let log = c.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 200, 503, 200, 429]);
    assert_eq!(log[0].item_count, Some(1));
    assert_eq!(log[0].path, "/v5/spans/batch");
    assert_eq!(log[0].account_id.as_deref(), Some("acct"));
    assert!(log[0].body_bytes > 50);
    assert!(log.windows(2).all(|w| w[0].received_at <= w[1].received_at));
}

#[test]
fn close_next_drops_the_connection_without_an_answer() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    c.faults().close_next(1);
    let body =
        serde_json::to_vec(&serde_json::json!({"items": [item("t", "a", None, "r", 0, None)]}))
            .unwrap();
    let r = api.send_raw("PUT", "/v5/spans/batch", Some(&body));
    assert!(r.is_err(), "expected a connection error, got {r:?}");
    assert_eq!(c.faults().pending_closes(), 0);
    assert!(c.spans("acct").is_empty());
    let a = api.send_raw("PUT", "/v5/spans/batch", Some(&body)).unwrap();
    assert_eq!(a.status, 200);
    let log = c.requests();
    assert_eq!(log.len(), 2);
    assert!(log[0].closed);
    assert_eq!((log[0].status, log[0].item_count), (0, Some(1)));
    assert!(!log[1].closed);
}

#[test]
fn delay_holds_answers_back_until_reset() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let api = Api::new(&c.base_url(), "acct");
    c.faults().delay(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(
        api.upsert(vec![item("t", "a", None, "r", 0, None)]).status,
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    c.faults().delay(Duration::ZERO);
    c.faults().fail_next(3, 500, None);
    c.faults().clear();
    assert_eq!(
        api.upsert(vec![item("t", "b", None, "r", 0, None)]).status,
        200
    );
}

#[test]
fn dropping_the_collector_stops_the_server() {
    let c = Collector::start(CollectorConfig::default()).unwrap();
    let addr = c.addr();
    drop(c);
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn a_collector_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let c = Collector::start(CollectorConfig::default()).unwrap();
    shareable(&c);
    let arc = std::sync::Arc::new(c);
    let url = std::thread::spawn({
        let c = arc.clone();
        move || c.base_url()
    })
    .join()
    .unwrap();
    assert_eq!(url, arc.base_url());
}
