// `async fn`: borrowed arguments, awaiting other traced functions, `?`, and a future
// polled after the call that created it.

#[path = "../capture.rs"]
mod capture;

use std::future::Future;

use sgp_trace::{create_trace, traced, SpanStatus};

#[traced]
async fn fetch(url: &str, attempt: u8) -> String {
    format!("{url}#{attempt}")
}

#[traced]
async fn length(text: &str) -> Result<usize, std::num::ParseIntError> {
    let limit: usize = "10".parse()?;
    Ok(text.len().min(limit))
}

#[traced(name = "pipeline")]
async fn pipeline(urls: Vec<String>) -> Result<usize, std::num::ParseIntError> {
    let mut total = 0;
    for (attempt, url) in urls.iter().enumerate() {
        let body = fetch(url, attempt as u8).await;
        total += length(&body).await?;
    }
    Ok(total)
}

#[traced]
async fn failing(text: String) -> Result<u8, std::num::ParseIntError> {
    let value: u8 = text.parse()?;
    Ok(value)
}

fn later() -> impl Future<Output = String> + 'static {
    let owned = String::from("kept");
    // The future owns its argument; the borrow ends with this function.
    async move { fetch(&owned, 9).await }
}

fn main() {
    let _guard = capture::start();
    let trace = create_trace("request").start();
    let urls = vec!["a".to_owned(), "bb".to_owned()];
    assert_eq!(capture::block_on(pipeline(urls)), Ok(7));
    assert!(capture::block_on(failing("x".to_owned())).is_err());
    let future = later();
    drop(trace);
    // Polled outside the trace: the span is a no-op, the value is unchanged.
    assert_eq!(capture::block_on(future), "kept#9");

    let spans = capture::ended();
    assert_eq!(spans.len(), 1 + 1 + 2 + 2 + 1, "{spans:#?}");
    let pipeline = capture::named(&spans, "pipeline");
    assert_eq!(capture::input(pipeline), r#"{"urls":["a","bb"]}"#);
    assert_eq!(capture::output(pipeline), r#"{"value":7}"#);
    for span in spans.iter().filter(|span| span.name.ends_with("::fetch")) {
        assert_eq!(span.parent_id, Some(pipeline.id.clone()));
    }
    let failing = capture::named(&spans, "::failing");
    assert_eq!(failing.status, Some(SpanStatus::Error));
    assert_eq!(capture::metadata(failing, "error"), "true");
}
