//! Independent traces per worker, linked by a group id: the simplest strategy when work is
//! spread over workers that should each have their own trace. `cargo run --bin grouped_workers`
use sgp_trace::{create_span, create_trace, Id};
use sgp_trace_examples::{current_trace_id, Backend};

fn worker(group: Id, index: usize) -> String {
    let _trace = create_trace(format!("worker {index}"))
        .group_id(group)
        .start();
    let _step = create_span(format!("handle job {index}"))
        .input(&index)
        .start();
    current_trace_id()
}

fn main() {
    let (config, backend) = Backend::start("grouped_workers");
    let guard = sgp_trace::init(config);
    let group = Id::new(format!("batch-{}", std::process::id())).expect("a valid group id");
    println!("group {group}");
    let workers: Vec<_> = (0..3)
        .map(|index| {
            let group = group.clone();
            std::thread::spawn(move || worker(group, index))
        })
        .collect();
    let trace_ids: Vec<String> = workers
        .into_iter()
        .map(|worker| worker.join().expect("a worker"))
        .collect();
    drop(guard);
    backend.report(&trace_ids);
}
