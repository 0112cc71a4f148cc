//! Configuration: from the environment, as the Python SDK reads it, and from a builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::export::controls::{Controls, Field, Mask, DEFAULT_MAX_FIELD_BYTES};
use crate::export::http::Connection;
use crate::export::settings::Settings;
use crate::export::{Exporter, HttpExporter};

/// The SGP API used when `SGP_CLIENT_BASE_URL` is not set (production multitenant).
pub const DEFAULT_BASE_URL: &str = "https://api.sgp.scale.com";

/// Span events the queue holds by default: enough for a tight loop of 100k spans to lose
/// none while the backend keeps up, with the memory it holds bounded when the backend is
/// down (the figures are in the benchmarks' README). The Python SDK's 4000 spans fill up
/// in a moment of a tight loop.
pub const DEFAULT_QUEUE_CAPACITY: usize = 98_304;

/// The most items the SGP API takes in one request.
pub const API_MAX_BATCH_ITEMS: usize = 1000;

/// The request size the SGP documentation says to stay under.
pub const API_MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Everything the tracing runtime needs; build it with [`Config::builder`] or
/// [`Config::from_env`].
///
/// ```
/// use std::time::Duration;
/// let config = sgp_trace::Config::builder()
///     .base_url("http://127.0.0.1:8080")
///     .credentials("my-key", "my-account")
///     .flush_interval(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// assert_eq!(config.base_url(), "http://127.0.0.1:8080");
/// ```
#[derive(Clone)]
pub struct Config {
    /// What the HTTP exporter connects to, and how.
    pub(crate) connection: Connection,
    /// What the export thread is told.
    pub(crate) export: Settings,
    pub(crate) queue_capacity: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) disabled: bool,
    pub(crate) exporter: Option<Arc<dyn Exporter>>,
    pub(crate) sample_rate: f64,
    pub(crate) keep_error_traces: bool,
}

impl Config {
    /// A builder with the defaults, ignoring the environment.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The configuration the environment describes (see [`ConfigBuilder::from_env`]).
    pub fn from_env() -> Result<Config, ConfigError> {
        ConfigBuilder::from_env().build()
    }

    /// The API's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.connection.base_url
    }

    /// Whether tracing is switched off.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Whether spans have somewhere to go: a custom exporter, or both an API key and an
    /// account id for the HTTP exporter.
    pub fn can_export(&self) -> bool {
        self.exporter.is_some() || self.missing_credentials().is_empty()
    }

    /// The names of the credential variables that are not set, for the warning.
    pub(crate) fn missing_credentials(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.connection.api_key.as_deref().is_none_or(str::is_empty) {
            missing.push("SGP_API_KEY");
        }
        if self
            .connection
            .account_id
            .as_deref()
            .is_none_or(str::is_empty)
        {
            missing.push("SGP_ACCOUNT_ID");
        }
        missing
    }

    /// How long dropping the [`TracingGuard`](crate::TracingGuard) may wait for the last spans.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }
}

impl HttpExporter {
    /// An exporter for the base URL, credentials, headers and timeouts of `config`.
    pub fn new(config: &Config) -> HttpExporter {
        HttpExporter::connect(&config.connection)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Connection {
            base_url,
            api_key,
            account_id,
            custom_headers,
            request_timeout,
            connect_timeout,
        } = &self.connection;
        let export = &self.export;
        f.debug_struct("Config")
            .field("base_url", base_url)
            .field("api_key", &api_key.as_ref().map(|_| "<redacted>"))
            .field("account_id", account_id)
            .field("custom_headers", &custom_headers.len())
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch_items", &export.max_batch_items)
            .field("max_batch_bytes", &export.max_batch_bytes)
            .field("flush_at", &export.flush_at)
            .field("flush_interval", &export.flush_interval)
            .field("max_attempts", &export.max_attempts)
            .field("backoff_initial", &export.backoff_initial)
            .field("backoff_max", &export.backoff_max)
            .field("request_timeout", request_timeout)
            .field("connect_timeout", connect_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("disabled", &self.disabled)
            .field("custom_exporter", &self.exporter.is_some())
            .field("max_retry_time", &export.max_retry_time)
            .field("max_field_bytes", &export.controls.max_field_bytes)
            .field("redact_credentials", &export.controls.redact_credentials)
            .field("mask", &export.controls.mask.is_some())
            .field("sample_rate", &self.sample_rate)
            .field("keep_error_traces", &self.keep_error_traces)
            .finish()
    }
}

/// Builds a [`Config`]; every value is checked in [`ConfigBuilder::build`].
#[derive(Clone)]
pub struct ConfigBuilder {
    base_url: String,
    api_key: Option<String>,
    account_id: Option<String>,
    custom_headers: Vec<(String, String)>,
    queue_capacity: usize,
    max_batch_items: usize,
    max_batch_bytes: usize,
    flush_at: usize,
    flush_interval: Duration,
    max_attempts: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    request_timeout: Duration,
    connect_timeout: Duration,
    shutdown_timeout: Duration,
    disabled: bool,
    exporter: Option<Arc<dyn Exporter>>,
    max_retry_time: Duration,
    /// `None` until set: then the default, within a quarter of `max_batch_bytes`.
    max_field_bytes: Option<usize>,
    redact_credentials: bool,
    mask: Option<Mask>,
    sample_rate: f64,
    keep_error_traces: bool,
    /// The first problem met while reading the environment, reported by `build`.
    env_error: Option<ConfigError>,
}

impl Default for ConfigBuilder {
    fn default() -> ConfigBuilder {
        ConfigBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            account_id: None,
            custom_headers: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_items: 500,
            max_batch_bytes: 512 * 1024,
            flush_at: 200,
            flush_interval: Duration::from_secs(4),
            max_attempts: 4,
            backoff_initial: Duration::from_millis(400),
            backoff_max: Duration::from_secs(20),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            disabled: false,
            exporter: None,
            max_retry_time: Duration::from_secs(60),
            max_field_bytes: None,
            redact_credentials: true,
            mask: None,
            sample_rate: 1.0,
            keep_error_traces: false,
            env_error: None,
        }
    }
}

impl ConfigBuilder {
    /// The defaults overridden by the environment, as the Python SDK reads it:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `SGP_API_KEY` | API key, sent as `x-api-key` |
    /// | `SGP_ACCOUNT_ID` | account, sent as `x-selected-account-id` |
    /// | `SGP_CLIENT_BASE_URL` | the API's base URL |
    /// | `SGP_CLIENT_CUSTOM_HEADERS` | extra headers, one `Name: value` a line |
    /// | `DISABLE_SCALE_TRACING` | turns tracing off unless empty, `0`, `false`, `no` or `off` |
    ///
    /// Unlike the Python SDK, `DISABLE_SCALE_TRACING=false` leaves tracing on.
    pub fn from_env() -> ConfigBuilder {
        ConfigBuilder::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`ConfigBuilder::from_env`], with variables looked up by `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> ConfigBuilder {
        let mut builder = ConfigBuilder::default();
        if let Some(key) = lookup("SGP_API_KEY") {
            builder.api_key = Some(key);
        }
        if let Some(account) = lookup("SGP_ACCOUNT_ID") {
            builder.account_id = Some(account);
        }
        if let Some(url) = lookup("SGP_CLIENT_BASE_URL").filter(|url| !url.trim().is_empty()) {
            builder.base_url = url;
        }
        if let Some(lines) = lookup("SGP_CLIENT_CUSTOM_HEADERS") {
            match parse_header_lines(&lines) {
                Ok(headers) => builder.custom_headers = headers,
                Err(error) => builder.env_error = Some(error),
            }
        }
        if let Some(value) = lookup("DISABLE_SCALE_TRACING") {
            builder.disabled = is_truthy_switch(&value);
        }
        builder
    }

    /// The API's base URL, such as `https://api.sgp.scale.com`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// API key and account id.
    pub fn credentials(
        mut self,
        api_key: impl Into<String>,
        account_id: impl Into<String>,
    ) -> Self {
        self.api_key = Some(api_key.into());
        self.account_id = Some(account_id.into());
        self
    }

    /// Adds a header sent with every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_headers.push((name.into(), value.into()));
        self
    }

    /// How many span events may wait for the export thread (98304). A span makes two, its
    /// start and its end, or one when it ends before its start has left its thread's lane.
    /// A full queue drops new events and counts them; it never blocks the program. Memory
    /// is taken as events wait (about 280 bytes each plus payloads over 38 bytes), not up front;
    /// each thread that makes spans also holds up to 64 events of its own.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// The most spans in one request (500, the top of the API's advice of 200 to 500; the
    /// API takes at most 1000). Fewer, larger requests keep the export thread ahead of a
    /// busy program.
    pub fn max_batch_items(mut self, items: usize) -> Self {
        self.max_batch_items = items;
        self
    }

    /// The most bytes of JSON in one request (512 KiB; the API advises staying under 1 MB).
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes;
        self
    }

    /// Send as soon as this many spans wait (200).
    pub fn flush_at(mut self, spans: usize) -> Self {
        self.flush_at = spans;
        self
    }

    /// Send whatever waits at least this often (4 s).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Attempts per batch before its spans are dropped and counted (4).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Wait before the first retry (0.4 s), doubled after each failure up to `max` (20 s). A
    /// `Retry-After` from the server replaces the computed wait.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// The whole-request timeout (60 s, as the Python client).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The connect timeout (5 s, as the Python client).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long shutdown waits for the last spans to be sent (5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Turns tracing off (or back on): this wins over `DISABLE_SCALE_TRACING`.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// Sends spans through `exporter` instead of the HTTP API (the Python `export_fn`).
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporter = Some(Arc::new(exporter));
        self
    }

    /// How long a batch the server keeps answering with `Retry-After` (429, 503) is retried:
    /// such answers do not use up `max_attempts`, since the server is up and asks for
    /// patience, but the batch gives up this long after its first failure (60 s).
    pub fn max_retry_time(mut self, time: Duration) -> Self {
        self.max_retry_time = time;
        self
    }

    /// The largest `input`, `output` or `metadata` sent as is (64 KiB of JSON). A larger one
    /// is truncated on the export thread: long strings are cut where they are, marked
    /// `… [truncated from N bytes]`, or, if that is not enough, the field becomes
    /// `{"truncated": true, "original_bytes": N, "preview": "..."}`. The span's metadata
    /// records `truncated_fields: {field: original bytes}`. Never more than a quarter of
    /// `max_batch_bytes`, so one span always fits a request.
    pub fn max_field_bytes(mut self, bytes: usize) -> Self {
        self.max_field_bytes = Some(bytes);
        self
    }

    /// Replaces values under credential-named keys (`api_key`, `token`, `password`,
    /// `authorization`, `secret`, `cookie`, ...) with `[REDACTED:credential]` before they
    /// leave the process (on by default).
    pub fn redact_credentials(mut self, redact: bool) -> Self {
        self.redact_credentials = redact;
        self
    }

    /// A hook that rewrites every payload on the export thread; see [`Mask`].
    pub fn mask(
        mut self,
        mask: impl Fn(Field, &mut serde_json::Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.mask = Some(Arc::new(mask));
        self
    }

    /// The share of traces kept, from 0.0 to 1.0 (1.0). The decision is made from the trace
    /// id, so a trace is kept or dropped whole, across threads and child processes. Spans of
    /// a dropped trace are no-ops.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = rate;
        self
    }

    /// Keeps a trace the sampler dropped when one of its spans ends with `ERROR` (off). Its
    /// spans are then recorded and held on the export thread until the trace's root ends, so
    /// they cost what kept spans cost.
    pub fn keep_error_traces(mut self, keep: bool) -> Self {
        self.keep_error_traces = keep;
        self
    }

    /// Checks every value and makes the [`Config`].
    pub fn build(self) -> Result<Config, ConfigError> {
        if let Some(error) = self.env_error {
            return Err(error);
        }
        let base_url = validate_base_url(&self.base_url)?;
        for (name, value) in &self.custom_headers {
            validate_header(name, value)?;
        }
        positive("queue_capacity", self.queue_capacity)?;
        positive("max_batch_items", self.max_batch_items)?;
        positive("max_batch_bytes", self.max_batch_bytes)?;
        positive("flush_at", self.flush_at)?;
        positive("max_attempts", self.max_attempts as usize)?;
        at_most("max_batch_items", self.max_batch_items, API_MAX_BATCH_ITEMS)?;
        at_most("max_batch_bytes", self.max_batch_bytes, API_MAX_BATCH_BYTES)?;
        at_most("flush_at", self.flush_at, self.queue_capacity)?;
        for (field, duration) in [
            ("flush_interval", self.flush_interval),
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if duration.is_zero() {
                return Err(ConfigError::OutOfRange {
                    field,
                    reason: "must be more than zero".into(),
                });
            }
        }
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(ConfigError::OutOfRange {
                field: "sample_rate",
                reason: format!("is {}, outside 0.0 to 1.0", self.sample_rate),
            });
        }
        let max_field_bytes = match self.max_field_bytes {
            Some(bytes) => {
                positive("max_field_bytes", bytes)?;
                at_most("max_field_bytes", bytes, self.max_batch_bytes / 4)?;
                bytes
            }
            None => DEFAULT_MAX_FIELD_BYTES.min(self.max_batch_bytes / 4).max(1),
        };
        if self.backoff_max < self.backoff_initial {
            return Err(ConfigError::OutOfRange {
                field: "backoff",
                reason: format!(
                    "the longest wait ({:?}) is shorter than the first ({:?})",
                    self.backoff_max, self.backoff_initial
                ),
            });
        }
        Ok(Config {
            connection: Connection {
                base_url,
                api_key: self.api_key,
                account_id: self.account_id,
                custom_headers: self.custom_headers,
                request_timeout: self.request_timeout,
                connect_timeout: self.connect_timeout,
            },
            export: Settings {
                max_batch_items: self.max_batch_items,
                max_batch_bytes: self.max_batch_bytes,
                flush_at: self.flush_at,
                flush_interval: self.flush_interval,
                max_attempts: self.max_attempts,
                backoff_initial: self.backoff_initial,
                backoff_max: self.backoff_max,
                max_retry_time: self.max_retry_time,
                controls: Controls {
                    max_field_bytes,
                    redact_credentials: self.redact_credentials,
                    mask: self.mask,
                },
            },
            queue_capacity: self.queue_capacity,
            shutdown_timeout: self.shutdown_timeout,
            disabled: self.disabled,
            exporter: self.exporter,
            sample_rate: self.sample_rate,
            keep_error_traces: self.keep_error_traces,
        })
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The base URL is not an absolute `http` or `https` URL.
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A custom header has a bad name or value, or a `SGP_CLIENT_CUSTOM_HEADERS` line is not
    /// `Name: value`.
    InvalidHeader {
        /// The header or line as given.
        header: String,
    },
    /// A number or duration outside what works.
    OutOfRange {
        /// The builder method that set it.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidBaseUrl { url, reason } => {
                write!(f, "sgp-trace config: base URL {url:?} is invalid: {reason}")
            }
            ConfigError::InvalidHeader { header } => write!(
                f,
                "sgp-trace config: custom header {header:?} is invalid; expected `Name: value` \
                 with a token name and a visible ASCII value"
            ),
            ConfigError::OutOfRange { field, reason } => {
                write!(f, "sgp-trace config: {field} {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// `DISABLE_SCALE_TRACING` turns tracing off unless it says "no" in one of the usual ways.
fn is_truthy_switch(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no" | "off"
    )
}

fn validate_base_url(url: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidBaseUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: ureq::http::Uri = url
        .trim()
        .parse()
        .map_err(|error: ureq::http::uri::InvalidUri| invalid(&error.to_string()))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(_) => return Err(invalid("the scheme must be http or https")),
        None => {
            return Err(invalid(
                "it must be absolute, such as https://api.sgp.scale.com",
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if uri.query().is_some() {
        return Err(invalid("it must not have a query"));
    }
    Ok(url.trim().trim_end_matches('/').to_owned())
}

fn parse_header_lines(lines: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut headers = Vec::new();
    for line in lines.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ConfigError::InvalidHeader {
                header: line.to_owned(),
            });
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(headers)
}

fn validate_header(name: &str, value: &str) -> Result<(), ConfigError> {
    let valid = ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && ureq::http::HeaderValue::from_str(value).is_ok();
    if valid {
        Ok(())
    } else {
        Err(ConfigError::InvalidHeader {
            header: format!("{name}: {value}"),
        })
    }
}

fn positive(field: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::OutOfRange {
            field,
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

fn at_most(field: &'static str, value: usize, limit: usize) -> Result<(), ConfigError> {
    if value > limit {
        return Err(ConfigError::OutOfRange {
            field,
            reason: format!("is {value}, more than the limit of {limit}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from_vars(vars: &[(&str, &str)]) -> ConfigBuilder {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConfigBuilder::from_lookup(move |name| vars.get(name).cloned())
    }

    #[test]
    fn disable_switch_reads_false_and_zero_as_on() {
        for off in ["false", "0", "FALSE", "no", "off", ""] {
            let config = from_vars(&[("DISABLE_SCALE_TRACING", off)])
                .build()
                .unwrap();
            assert!(!config.is_disabled(), "{off:?} must not disable tracing");
        }
        for on in ["1", "true", "yes", "anything"] {
            let config = from_vars(&[("DISABLE_SCALE_TRACING", on)]).build().unwrap();
            assert!(config.is_disabled(), "{on:?} must disable tracing");
        }
    }

    #[test]
    fn programmatic_setting_wins_over_environment() {
        let config = from_vars(&[("DISABLE_SCALE_TRACING", "1")])
            .disabled(false)
            .build()
            .unwrap();
        assert!(!config.is_disabled());
    }

    #[test]
    fn reads_credentials_url_and_headers() {
        let config = from_vars(&[
            ("SGP_API_KEY", "k"),
            ("SGP_ACCOUNT_ID", "a"),
            ("SGP_CLIENT_BASE_URL", "http://localhost:9000/"),
            (
                "SGP_CLIENT_CUSTOM_HEADERS",
                "X-One: 1\nX-Two:  two words \n",
            ),
        ])
        .build()
        .unwrap();
        assert_eq!(config.base_url(), "http://localhost:9000");
        assert!(config.can_export());
        assert_eq!(
            config.connection.custom_headers,
            vec![
                ("X-One".into(), "1".into()),
                ("X-Two".into(), "two words".into())
            ]
        );
    }

    #[test]
    fn missing_credentials_are_named() {
        let config = from_vars(&[("SGP_API_KEY", "k")]).build().unwrap();
        assert!(!config.can_export());
        assert_eq!(config.missing_credentials(), vec!["SGP_ACCOUNT_ID"]);
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let bad_url = Config::builder()
            .base_url("localhost:8080")
            .build()
            .unwrap_err();
        assert!(
            matches!(bad_url, ConfigError::InvalidBaseUrl { .. }),
            "{bad_url}"
        );
        let bad_scheme = Config::builder()
            .base_url("ftp://host")
            .build()
            .unwrap_err();
        assert!(
            bad_scheme.to_string().contains("http or https"),
            "{bad_scheme}"
        );
        let zero = Config::builder().queue_capacity(0).build().unwrap_err();
        assert!(zero.to_string().contains("queue_capacity"), "{zero}");
        let too_many = Config::builder().max_batch_items(1001).build().unwrap_err();
        assert!(too_many.to_string().contains("1000"), "{too_many}");
        let header = from_vars(&[("SGP_CLIENT_CUSTOM_HEADERS", "no colon here")])
            .build()
            .unwrap_err();
        assert!(
            matches!(header, ConfigError::InvalidHeader { .. }),
            "{header}"
        );
        let rate = Config::builder().sample_rate(1.5).build().unwrap_err();
        assert!(rate.to_string().contains("sample_rate"), "{rate}");
        let field = Config::builder()
            .max_batch_bytes(1000)
            .max_field_bytes(300)
            .build()
            .unwrap_err();
        assert!(field.to_string().contains("max_field_bytes"), "{field}");
        let backoff = Config::builder()
            .backoff(Duration::from_secs(2), Duration::from_secs(1))
            .build()
            .unwrap_err();
        assert!(backoff.to_string().contains("backoff"), "{backoff}");
    }
}
