use sgp_trace::traced;

#[traced(type = "LLM")]
fn complete() {}

fn main() {}
