//! The names, kinds and id keys of the spans the interceptors make: the shape of Temporal's
//! OpenTelemetry tracing interceptor by default, or the plain names this crate used first.

/// The metadata key whose value is the span kind (`server`, `client`, ...); the OTLP
/// exporter of `sgp-trace-otel` turns it into the OTLP span kind.
pub const SPAN_KIND_KEY: &str = "span.kind";

/// The metadata key of an update's id on update spans, as Temporal's tracing interceptor
/// names the attribute.
pub(crate) const UPDATE_ID_KEY: &str = "temporalUpdateID";

/// How the Temporal spans are named and annotated. Give it to
/// [`workflow_interceptor_with`](crate::workflow_interceptor_with),
/// [`ActivityTracing::with_names`](crate::ActivityTracing::with_names) and
/// [`ClientTracing::with_names`](crate::ClientTracing::with_names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanNames {
    /// The shape of Temporal's OpenTelemetry tracing interceptor, which users of that
    /// interceptor know:
    ///
    /// ```text
    /// StartWorkflow:<Type>                 client, made by ClientTracing (kind client)
    /// └── RunWorkflow:<Type>               the workflow run (kind server)
    ///     ├── StartChildWorkflow:<Type>    where the workflow starts a child (kind client)
    ///     │   └── RunWorkflow:<Type>
    ///     └── StartActivity:<type>         where the workflow schedules it (kind client)
    ///         └── RunActivity:<type>       each attempt (kind server)
    /// ```
    ///
    /// and signals, queries and updates as `SignalWorkflow:` / `QueryWorkflow:` /
    /// `StartWorkflowUpdate:` (client) over `HandleSignal:` / `HandleQuery:` /
    /// `ValidateUpdate:` and `HandleUpdate:` (server), update-with-start as
    /// `StartUpdateWithStartWorkflow:<Type>` over the run and the update's spans, a
    /// workflow's own signals as `SignalExternalWorkflow:`; with
    /// the ids as metadata `temporalWorkflowID`, `temporalRunID` and `temporalActivityID`,
    /// and the kind as metadata [`SPAN_KIND_KEY`].
    #[default]
    Interceptor,
    /// The workflow type and the activity type as span names, the ids as
    /// `temporal.workflow_id`, `temporal.run_id` and `temporal.activity_id`, no kinds, and no
    /// client-side, `Start*`, `SignalExternalWorkflow` or `Handle*` spans.
    Plain,
}

/// A span's kind, written as metadata [`SPAN_KIND_KEY`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Server,
    Client,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Client => "client",
        }
    }
}

impl SpanNames {
    /// The name of an operation's span: `<operation>:<subject>`, or the subject alone in the
    /// plain shape.
    pub(crate) fn name(self, operation: &str, subject: &str) -> String {
        match self {
            SpanNames::Interceptor => format!("{operation}:{subject}"),
            SpanNames::Plain => subject.to_owned(),
        }
    }

    /// Whether the spans of the interceptor shape that the plain one lacks are made: the
    /// calling side's (client calls, `Start*`, `SignalExternalWorkflow`) and the handlers'.
    pub(crate) fn caller_spans(self) -> bool {
        self == SpanNames::Interceptor
    }

    /// The metadata entry of a span kind, `None` in the plain shape.
    pub(crate) fn kind(self, kind: Kind) -> Option<(&'static str, &'static str)> {
        self.caller_spans()
            .then_some((SPAN_KIND_KEY, kind.as_str()))
    }

    pub(crate) fn workflow_id_key(self) -> &'static str {
        match self {
            SpanNames::Interceptor => "temporalWorkflowID",
            SpanNames::Plain => "temporal.workflow_id",
        }
    }

    pub(crate) fn run_id_key(self) -> &'static str {
        match self {
            SpanNames::Interceptor => "temporalRunID",
            SpanNames::Plain => "temporal.run_id",
        }
    }

    pub(crate) fn activity_id_key(self) -> &'static str {
        match self {
            SpanNames::Interceptor => "temporalActivityID",
            SpanNames::Plain => "temporal.activity_id",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_shape() {
        assert_eq!(
            SpanNames::Interceptor.name("RunActivity", "lookup"),
            "RunActivity:lookup"
        );
        assert_eq!(SpanNames::Plain.name("RunActivity", "lookup"), "lookup");
        assert_eq!(
            SpanNames::Interceptor.kind(Kind::Server),
            Some(("span.kind", "server"))
        );
        assert_eq!(SpanNames::Plain.kind(Kind::Client), None);
    }
}
