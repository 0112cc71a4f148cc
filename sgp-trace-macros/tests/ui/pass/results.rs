// Functions returning `Result`: `?` with `From` conversions, aliases such as `io::Result`,
// `Ok(())`, boxed errors, an early `return Err`, and a panic.

#[path = "../capture.rs"]
mod capture;

use std::error::Error;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use sgp_trace::{create_trace, traced, SpanStatus};

#[derive(Debug)]
enum AppError {
    Parse(std::num::ParseIntError),
    Empty,
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Parse(error) => write!(f, "not a number: {error}"),
            AppError::Empty => f.write_str("empty"),
        }
    }
}

impl From<std::num::ParseIntError> for AppError {
    fn from(error: std::num::ParseIntError) -> AppError {
        AppError::Parse(error)
    }
}

#[traced]
fn parse(text: &str) -> Result<u32, AppError> {
    if text.is_empty() {
        return Err(AppError::Empty);
    }
    Ok(text.trim().parse::<u32>()?)
}

#[traced]
fn read(path: &str) -> std::io::Result<()> {
    if path.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no path"));
    }
    Ok(())
}

#[traced]
fn boxed(text: &str) -> Result<u8, Box<dyn Error + Send + Sync>> {
    Ok(text.parse()?)
}

#[traced]
fn explode(reason: &str) -> u8 {
    panic!("{reason}")
}

fn main() {
    let _guard = capture::start();
    let trace = create_trace("request").start();
    assert_eq!(parse(" 42 ").unwrap(), 42);
    assert!(matches!(parse("x"), Err(AppError::Parse(_))));
    assert!(matches!(parse(""), Err(AppError::Empty)));
    assert!(read("a").is_ok());
    assert!(read("").is_err());
    assert!(boxed("300").is_err());
    panic::set_hook(Box::new(|_| {}));
    assert!(panic::catch_unwind(AssertUnwindSafe(|| explode("boom"))).is_err());
    let _ = panic::take_hook();
    drop(trace);

    let spans = capture::ended();
    assert_eq!(spans.len(), 1 + 3 + 2 + 1 + 1, "{spans:#?}");
    let statuses = |suffix: &str| -> Vec<Option<SpanStatus>> {
        let named = spans.iter().filter(|span| span.name.ends_with(suffix));
        named.map(|span| span.status).collect()
    };
    let (ok, error) = (Some(SpanStatus::Success), Some(SpanStatus::Error));
    assert_eq!(statuses("::parse"), [ok, error, error]);
    assert_eq!(statuses("::read"), [ok, error]);
    assert_eq!(statuses("::boxed"), [error]);
    assert_eq!(statuses("::explode"), [error]);
    let empty = spans
        .iter()
        .find(|span| capture::input(span) == r#"{"text":""}"#)
        .unwrap();
    assert_eq!(capture::metadata(empty, "error_message"), r#""empty""#);
    let ok_read = spans
        .iter()
        .find(|span| span.name.ends_with("::read"))
        .unwrap();
    assert_eq!(capture::output(ok_read), "", "Ok(()) records nothing");
}
