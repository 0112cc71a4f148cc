//! Thread fan-out: a trace whose work runs on several threads, one of which outlives the
//! span it started in. `cargo run --bin thread_fanout`
use std::time::Duration;

use sgp_trace::propagate;
use sgp_trace::traced;
use sgp_trace_examples::{current_trace_id, Backend};

#[traced(type = "KB_RETRIEVAL")]
fn search(shard: usize) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(5));
    vec![format!("doc-{shard}-a"), format!("doc-{shard}-b")]
}

#[traced]
fn audit_log(entries: usize) {
    // Runs after the span that spawned it has ended.
    std::thread::sleep(Duration::from_millis(30));
    let _ = entries;
}

#[traced(root, name = "fan out")]
fn fan_out() -> (String, std::thread::JoinHandle<()>) {
    let workers: Vec<_> = (0..4)
        .map(|shard| propagate::spawn(move || search(shard)))
        .collect();
    let hits: usize = workers
        .into_iter()
        .map(|worker| worker.join().expect("a search thread").len())
        .sum();
    let late = propagate::Builder::new()
        .name("audit".into())
        .spawn(move || audit_log(hits))
        .expect("spawn the audit thread");
    (current_trace_id(), late)
}

fn main() {
    let (config, backend) = Backend::start("thread_fanout");
    let guard = sgp_trace::init(config);
    let (trace_id, late) = fan_out();
    late.join().expect("the audit thread");
    drop(guard);
    backend.report(&[trace_id]);
}
