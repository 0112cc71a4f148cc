use sgp_trace::traced;

#[traced(level = "info")]
fn work() {}

fn main() {}
