//! The Temporal header that carries a [`SpanContext`] between client, workflow, activities
//! and child workflows.

use std::collections::HashMap;

use sgp_trace::SpanContext;
use temporalio_common::data_converters::{
    GenericPayloadConverter, PayloadConverter, SerializationContext, SerializationContextData,
    WorkflowSerializationContext,
};
use temporalio_common::protos::temporal::api::common::v1::Payload;

/// The Temporal header key under which the span context travels. Its payload is a JSON string
/// holding the [compact form](SpanContext) `sgp1;<trace_id>;<span_id>[;<group_id>]`.
pub const HEADER_KEY: &str = "_sgp-trace";

fn with_converter<R>(f: impl FnOnce(&SerializationContext<'_>, &PayloadConverter) -> R) -> R {
    let converter = PayloadConverter::default();
    let data = SerializationContextData::Workflow(WorkflowSerializationContext::new());
    let context = SerializationContext::new(&data, &converter);
    f(&context, &converter)
}

/// Writes `context` into Temporal headers (replacing one already there).
pub fn inject(context: &SpanContext, headers: &mut HashMap<String, Payload>) {
    let text = context.to_string();
    let payload = with_converter(|ctx, converter| converter.to_payload(ctx, &text));
    match payload {
        Ok(payload) => {
            headers.insert(HEADER_KEY.to_owned(), payload);
        }
        Err(error) => log::warn!(
            "sgp-trace-temporal: could not encode the span context header ({error}); \
             the callee starts its own trace"
        ),
    }
}

/// Reads the span context from Temporal headers. A missing header is `None`; a malformed
/// one is `None` with a warning, so the callee starts its own trace instead of failing.
pub fn extract(headers: &HashMap<String, Payload>) -> Option<SpanContext> {
    let payload = headers.get(HEADER_KEY)?;
    let text: Result<String, _> =
        with_converter(|ctx, converter| converter.from_payload(ctx, payload.clone()));
    match text
        .map_err(|e| e.to_string())
        .and_then(|t| t.parse().map_err(|e| format!("{e}")))
    {
        Ok(context) => Some(context),
        Err(error) => {
            log::warn!(
                "sgp-trace-temporal: the {HEADER_KEY} header is unusable ({error}); \
                 this side starts its own trace"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sgp_trace::Id;

    #[test]
    fn header_round_trips() {
        let context = SpanContext {
            trace_id: Id::new("trace-1").unwrap(),
            span_id: Id::new("span;1").unwrap(),
            group_id: Some(Id::new("group").unwrap()),
        };
        let mut headers = HashMap::new();
        inject(&context, &mut headers);
        assert_eq!(extract(&headers), Some(context));
    }

    #[test]
    fn missing_or_malformed_header_is_none() {
        let mut headers = HashMap::new();
        assert_eq!(extract(&headers), None);
        let junk = with_converter(|ctx, c| c.to_payload(ctx, &"not a context".to_owned())).unwrap();
        headers.insert(HEADER_KEY.to_owned(), junk);
        assert_eq!(extract(&headers), None);
    }
}
