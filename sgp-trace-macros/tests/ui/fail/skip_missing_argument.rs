use sgp_trace::traced;

#[traced(skip(prompt, self))]
fn complete(query: &str) {}

#[traced(record_self)]
fn free() {}

fn main() {}
