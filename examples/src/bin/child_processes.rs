//! Child processes under one trace: the parent hands its span to each child through
//! `SGP_TRACE_PARENT`; each child exports its own spans, which land under the parent's span.
//! `cargo run --bin child_processes`
use std::process::Command;

use sgp_trace::propagate::CommandExt;
use sgp_trace::{create_span, create_trace, traced, Config};
use sgp_trace_examples::{current_trace_id, Backend};

#[traced(type = "DATA_MANIPULATION")]
fn process_chunk(chunk: usize) -> usize {
    (chunk * 1000..(chunk + 1) * 1000)
        .filter(|n| n % 7 == 0)
        .count()
}

/// The child: `init` adopts the parent's span from the environment.
fn child(chunk: usize) {
    let _guard = sgp_trace::init(Config::from_env().expect("the parent's SGP_* variables"));
    let _trace = create_trace(format!("child {chunk}")).start();
    process_chunk(chunk);
}

fn main() {
    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(chunk)) = (args.next(), args.next()) {
        if flag == "--child" {
            return child(chunk.parse().expect("a chunk number"));
        }
    }
    let (config, backend) = Backend::start("child_processes");
    let guard = sgp_trace::init(config);
    let trace_id = {
        let _trace = create_trace("map over chunks").start();
        let _map = create_span("spawn workers").start();
        let children: Vec<_> = (0..3)
            .map(|chunk| {
                Command::new(std::env::current_exe().expect("this program"))
                    .args(["--child", &chunk.to_string()])
                    .envs(backend.child_env.iter().cloned())
                    .propagate_context()
                    .spawn()
                    .expect("spawn a child")
            })
            .collect();
        for mut child in children {
            assert!(child.wait().expect("a child").success(), "a child failed");
        }
        current_trace_id()
    };
    drop(guard);
    backend.report(&[trace_id]);
}
