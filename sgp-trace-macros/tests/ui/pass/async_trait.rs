// Methods of an `#[async_trait]` impl, with `#[traced]` inside the impl.

#[path = "../capture.rs"]
mod capture;

use async_trait::async_trait;
use sgp_trace::{create_trace, traced};

#[async_trait]
trait Model {
    async fn complete(&self, prompt: &str) -> Result<String, std::fmt::Error>;
}

struct Echo;

#[async_trait]
impl Model for Echo {
    #[traced(type = "COMPLETION")]
    async fn complete(&self, prompt: &str) -> Result<String, std::fmt::Error> {
        Ok(format!("echo: {prompt}"))
    }
}

fn main() {
    let _guard = capture::start();
    let trace = create_trace("request").start();
    let model: Box<dyn Model> = Box::new(Echo);
    assert_eq!(capture::block_on(model.complete("hi")).unwrap(), "echo: hi");
    drop(trace);

    let spans = capture::ended();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let complete = capture::named(&spans, "::complete");
    assert_eq!(complete.span_type, sgp_trace::SpanType::Completion);
    assert_eq!(capture::input(complete), r#"{"prompt":"hi"}"#);
    assert_eq!(capture::output(complete), r#"{"value":"echo: hi"}"#);
}
