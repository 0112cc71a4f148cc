//! The activity that sends a workflow's buffered spans to SGP.

// `#[activities]` generates an undocumented public constant per activity.
#![allow(missing_docs)]

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sgp_trace::{
    Batch, Config, ExportError, Exporter, HttpExporter, Id, JsonObject, SpanItem, SpanStatus,
    SpanType, Timestamp,
};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::ApplicationFailure;

/// One span as the buffer keeps it and the flush activity receives it: plain serializable
/// data, turned into a [`SpanItem`] (and validated) in the activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferedSpan {
    /// The span's name.
    pub name: String,
    /// Its trace.
    pub trace_id: String,
    /// Its id.
    pub id: String,
    /// Its parent; absent on a trace's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Its group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Start, in nanoseconds since the Unix epoch of workflow time.
    pub start_nanos: u64,
    /// End, when it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_nanos: Option<u64>,
    /// How it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SpanStatus>,
    /// Its type.
    pub span_type: SpanType,
    /// What it received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// What it produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Free-form facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl BufferedSpan {
    /// The wire item, or why it cannot be sent (an invalid id).
    pub fn to_item(&self) -> Result<SpanItem, String> {
        let id = |what: &str, text: &str| {
            Id::new(text).map_err(|error| format!("span {:?}: bad {what}: {error}", self.name))
        };
        let start = Timestamp::from_nanos(self.start_nanos);
        Ok(SpanItem {
            name: self.name.clone().into(),
            trace_id: id("trace_id", &self.trace_id)?,
            id: id("id", &self.id)?,
            parent_id: self
                .parent_id
                .as_deref()
                .map(|p| id("parent_id", p))
                .transpose()?,
            group_id: self
                .group_id
                .as_deref()
                .map(|g| id("group_id", g))
                .transpose()?,
            start_timestamp: start,
            end_timestamp: self
                .end_nanos
                .map(|end| Timestamp::from_nanos(end).max(start)),
            status: self.status,
            span_type: self.span_type,
            input: self.input.as_ref().map(JsonObject::new),
            output: self.output.as_ref().map(JsonObject::new),
            metadata: self.metadata.clone().map(Arc::new),
            observability: None,
        })
    }
}

/// At most this many spans go in one request; the API takes 1000, and advises 200-500.
pub const MAX_SPANS_PER_REQUEST: usize = 200;

/// The input of [`SpanActivities::upsert_spans`]: spans in their wire-ready, serializable
/// form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpsertSpans {
    /// The spans to upsert.
    pub spans: Vec<BufferedSpan>,
}

/// Failure type names of [`SpanActivities::upsert_spans`], as Temporal reports them.
pub mod failure {
    /// A span in the request cannot be sent (an invalid id): not retried.
    pub const INVALID_SPAN: &str = "SgpInvalidSpan";
    /// The server refused the spans (400, 409, 422): not retried, it would refuse them again.
    pub const REJECTED: &str = "SgpRejected";
    /// The credentials were refused (401, 403): not retried.
    pub const UNAUTHORIZED: &str = "SgpUnauthorized";
    /// One span alone is over the request size limit (413): not retried.
    pub const TOO_LARGE: &str = "SgpTooLarge";
    /// Any other non-transient failure (another 4xx, `x-should-retry: false`): not retried.
    pub const FAILED: &str = "SgpFailed";
    /// 408, 429, 5xx, connection failures and timeouts: retried by Temporal, after the
    /// server's `Retry-After` when it sent one.
    pub const TRANSIENT: &str = "SgpTransient";
}

/// The activities a worker registers for [`SpanBuffer`](crate::SpanBuffer) flushes:
/// `WorkerOptions::new(queue).register_activities(SpanActivities::from_config(&config))`.
///
/// `upsert_spans` sends spans with the SGP upsert (`PUT /v5/spans/batch`), keyed on trace id
/// and span id, so Temporal may retry it any number of times: a span sent twice is stored
/// once. Errors are classified as the SGP API notes say: bad input (400, 409, 422, an invalid
/// id), refused credentials (401, 403) and a single span over the size limit are
/// non-retryable application failures; rate limits, server errors and network failures are
/// retryable, with the server's `Retry-After` as the next retry delay.
#[derive(Clone)]
pub struct SpanActivities {
    exporter: Arc<dyn Exporter>,
}

impl std::fmt::Debug for SpanActivities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanActivities").finish_non_exhaustive()
    }
}

impl SpanActivities {
    /// Sends through `exporter` (any [`Exporter`]; the SGP one is [`HttpExporter`]).
    pub fn new(exporter: impl Exporter) -> SpanActivities {
        SpanActivities {
            exporter: Arc::new(exporter),
        }
    }

    /// Sends to the SGP API that `config` names, with its credentials and timeouts.
    pub fn from_config(config: &Config) -> SpanActivities {
        SpanActivities::new(HttpExporter::new(config))
    }
}

#[activities]
impl SpanActivities {
    /// Upserts the spans; returns how many were sent.
    #[activity]
    pub async fn upsert_spans(
        self: Arc<Self>,
        _ctx: ActivityContext,
        request: UpsertSpans,
    ) -> Result<usize, ActivityError> {
        let mut items = Vec::with_capacity(request.spans.len());
        for span in &request.spans {
            match span.to_item() {
                Ok(item) => items.push(item),
                Err(reason) => {
                    return Err(failure(failure::INVALID_SPAN, reason, true, None));
                }
            }
        }
        let exporter = self.exporter.clone();
        let sent = items.len();
        let outcome = tokio::task::spawn_blocking(move || {
            items
                .chunks(MAX_SPANS_PER_REQUEST)
                .try_for_each(|chunk| send(exporter.as_ref(), chunk))
        })
        .await;
        match outcome {
            Ok(Ok(())) => Ok(sent),
            Ok(Err(error)) => Err(classify(error)),
            Err(join_error) => Err(failure(
                failure::TRANSIENT,
                format!("the export task failed: {join_error}"),
                false,
                None,
            )),
        }
    }
}

/// Sends one chunk, halving it while the server says it is too large.
fn send(exporter: &dyn Exporter, items: &[sgp_trace::SpanItem]) -> Result<(), ExportError> {
    match Batch::encode(items, |batch| exporter.export(batch)) {
        Err(ExportError::TooLarge { .. }) if items.len() > 1 => {
            let (first, second) = items.split_at(items.len() / 2);
            send(exporter, first)?;
            send(exporter, second)
        }
        other => other,
    }
}

fn classify(error: ExportError) -> ActivityError {
    let reason = error.to_string();
    match error {
        ExportError::Transient { retry_after, .. } => {
            failure(failure::TRANSIENT, reason, false, retry_after)
        }
        ExportError::Rejected { .. } => failure(failure::REJECTED, reason, true, None),
        ExportError::Unauthorized { .. } => failure(failure::UNAUTHORIZED, reason, true, None),
        ExportError::TooLarge { .. } => failure(failure::TOO_LARGE, reason, true, None),
        ExportError::Failed { .. } => failure(failure::FAILED, reason, true, None),
    }
}

fn failure(
    type_name: &str,
    reason: String,
    non_retryable: bool,
    next_retry_delay: Option<std::time::Duration>,
) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(reason)
            .type_name(type_name.to_owned())
            .non_retryable(non_retryable)
            .maybe_next_retry_delay(next_retry_delay)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    fn error_of(activity_error: ActivityError) -> (String, bool, Option<Duration>) {
        match activity_error {
            ActivityError::Application(failure) => (
                failure.type_name().unwrap_or_default().to_owned(),
                failure.is_non_retryable(),
                failure.next_retry_delay(),
            ),
            other => panic!("not an application failure: {other:?}"),
        }
    }

    #[test]
    fn bad_input_and_auth_are_not_retried_transient_failures_are() {
        let reason = String::from("r");
        let cases = [
            (
                ExportError::Rejected {
                    reason: reason.clone(),
                },
                failure::REJECTED,
                true,
            ),
            (
                ExportError::Unauthorized {
                    reason: reason.clone(),
                },
                failure::UNAUTHORIZED,
                true,
            ),
            (
                ExportError::TooLarge {
                    reason: reason.clone(),
                },
                failure::TOO_LARGE,
                true,
            ),
            (
                ExportError::Failed {
                    reason: reason.clone(),
                },
                failure::FAILED,
                true,
            ),
            (
                ExportError::Transient {
                    reason,
                    retry_after: Some(Duration::from_secs(2)),
                },
                failure::TRANSIENT,
                false,
            ),
        ];
        for (error, type_name, non_retryable) in cases {
            let (name, not_retried, delay) = error_of(classify(error));
            assert_eq!((name.as_str(), not_retried), (type_name, non_retryable));
            if !non_retryable {
                assert_eq!(
                    delay,
                    Some(Duration::from_secs(2)),
                    "Retry-After is honoured"
                );
            }
        }
    }

    #[test]
    fn a_too_large_batch_is_halved_until_it_fits() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let exporter = move |batch: &Batch<'_>| {
            seen.lock().unwrap().push(batch.len());
            if batch.len() > 2 {
                Err(ExportError::TooLarge {
                    reason: "413".into(),
                })
            } else {
                Ok(())
            }
        };
        let clock_span = |id: usize| crate::BufferedSpan {
            name: "s".into(),
            trace_id: "t".into(),
            id: format!("s{id}"),
            parent_id: None,
            group_id: None,
            start_nanos: 0,
            end_nanos: None,
            status: None,
            span_type: sgp_trace::SpanType::Custom,
            input: None,
            output: None,
            metadata: None,
        };
        let items: Vec<_> = (0..5).map(|i| clock_span(i).to_item().unwrap()).collect();
        send(&exporter, &items).unwrap();
        assert_eq!(*sizes.lock().unwrap(), [5, 2, 3, 1, 2]);
    }
}
