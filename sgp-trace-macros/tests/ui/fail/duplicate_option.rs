use sgp_trace::traced;

#[traced(name = "a", type = "CUSTOM", name = "b")]
fn work() {}

#[traced(metadata(model = "x", model = "y"))]
fn other() {}

fn main() {}
