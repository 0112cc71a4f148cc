//! The JSON error answer of the API.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// A rejected request: its HTTP status and a JSON body naming what was wrong.
///
/// The body is `{"detail": message, "error": {"status", "code", "message", "field"?,
/// "span_id"?, "trace_id"?, "index"?}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError(Box<ErrorData>);

#[derive(Debug, Clone)]
pub(crate) struct ErrorData {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
    pub(crate) span_id: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) index: Option<usize>,
    pub(crate) retry_after_secs: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError(Box::new(ErrorData {
            status,
            code,
            message: message.into(),
            field: None,
            span_id: None,
            trace_id: None,
            index: None,
            retry_after_secs: None,
        }))
    }

    pub(crate) fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub(crate) fn span(
        mut self,
        index: Option<usize>,
        trace_id: Option<&str>,
        id: Option<&str>,
    ) -> Self {
        self.index = index;
        self.trace_id = trace_id.map(str::to_owned);
        self.span_id = id.map(str::to_owned);
        self
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            message,
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "internal_error", message);
        e.retry_after_secs = Some(1);
        e
    }

    /// A storage failure: logged, and answered as a 503 the client may retry.
    pub(crate) fn storage(e: rusqlite::Error) -> Self {
        log::error!("sgp-trace-collector: storage error: {e}");
        Self::internal(format!("storage error: {e}"))
    }

    /// The HTTP status of this error.
    #[cfg(test)]
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The error as its JSON body.
    pub(crate) fn to_json(&self) -> Value {
        let mut err = Map::new();
        err.insert("status".into(), json!(self.status.as_u16()));
        err.insert("code".into(), json!(self.code));
        err.insert("message".into(), json!(self.message));
        if let Some(f) = &self.field {
            err.insert("field".into(), json!(f));
        }
        if let Some(s) = &self.span_id {
            err.insert("span_id".into(), json!(s));
        }
        if let Some(t) = &self.trace_id {
            err.insert("trace_id".into(), json!(t));
        }
        if let Some(i) = self.index {
            err.insert("index".into(), json!(i));
        }
        let mut detail = self.message.clone();
        if let Some(f) = &self.field {
            detail = format!("{detail} (field `{f}`");
            if let Some(s) = &self.span_id {
                detail.push_str(&format!(", span id {s:?}"));
            }
            detail.push(')');
        }
        json!({ "detail": detail, "error": Value::Object(err) })
    }
}

impl std::ops::Deref for ApiError {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}",
            self.status.as_u16(),
            self.to_json()["detail"].as_str().unwrap_or("")
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.to_json())).into_response();
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        resp
    }
}
