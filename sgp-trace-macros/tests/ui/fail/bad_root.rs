use sgp_trace::traced;

#[traced(root(group = "g"))]
fn work() {}

fn main() {}
