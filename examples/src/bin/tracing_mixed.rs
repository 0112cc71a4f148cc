//! `#[traced]` code calling a library instrumented with `tracing`, which calls back into
//! `#[traced]` code: one tree, whichever API made each span. `cargo run --bin tracing_mixed`
use sgp_trace::traced;
use sgp_trace_examples::{current_trace_id, Backend};
use tracing_subscriber::prelude::*;

/// Stands for a dependency instrumented with `tracing`, such as an HTTP or database client.
mod store {
    use tracing::{debug, instrument};

    #[instrument(skip(on_row))]
    pub fn query(table: &str, on_row: impl Fn(usize)) -> usize {
        for row in 0..2 {
            debug!(row, "row read");
            on_row(row);
        }
        2
    }
}

#[traced(type = "DATA_MANIPULATION")]
fn enrich(row: usize) -> usize {
    row * 10
}

/// Returns the number of rows and the trace's id.
#[traced(root, name = "nightly report", type = "AGENT_WORKFLOW")]
fn report() -> (usize, String) {
    let rows = store::query("orders", |row| {
        enrich(row);
    });
    (rows, current_trace_id())
}

fn main() {
    let (config, backend) = Backend::start("tracing_mixed");
    let guard = sgp_trace::init(config);
    tracing_subscriber::registry()
        .with(sgp_trace_tracing::layer())
        .init();
    let (_, trace_id) = report();
    drop(guard);
    backend.report(&[trace_id]);
}
