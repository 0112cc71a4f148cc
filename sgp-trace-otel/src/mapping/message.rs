//! A [`SpanView`] as an `opentelemetry-proto` message, for [`map_span`](crate::map_span).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use super::view::{Outcome, SpanView, LINK_ATTRIBUTE, SAMPLED};
use crate::attributes::Attribute;

impl SpanView<'_> {
    pub(crate) fn to_message(&self) -> Span {
        let (status, events) = match &self.outcome {
            Outcome::Ok => (status(StatusCode::Ok, ""), Vec::new()),
            Outcome::Unset => (status(StatusCode::Unset, ""), Vec::new()),
            Outcome::Error {
                message,
                error_type,
                at,
            } => (
                status(StatusCode::Error, message),
                vec![Event {
                    time_unix_nano: *at,
                    name: "exception".into(),
                    attributes: vec![
                        key_value("exception.type", error_type),
                        key_value("exception.message", message),
                    ],
                    dropped_attributes_count: 0,
                }],
            ),
        };
        let links = self
            .link
            .iter()
            .map(|ids| Link {
                trace_id: ids.trace_id.to_be_bytes().to_vec(),
                span_id: ids.span_id.to_be_bytes().to_vec(),
                attributes: vec![key_value(LINK_ATTRIBUTE.0, LINK_ATTRIBUTE.1)],
                flags: SAMPLED,
                ..Default::default()
            })
            .collect();
        Span {
            trace_id: self.trace_id.to_be_bytes().to_vec(),
            span_id: self.span_id.to_be_bytes().to_vec(),
            parent_span_id: self
                .parent_span_id
                .map(|id| id.to_be_bytes().to_vec())
                .unwrap_or_default(),
            flags: SAMPLED,
            name: self.name.to_owned(),
            kind: self.kind as i32,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end,
            attributes: self
                .attributes
                .iter()
                .map(Attribute::to_key_value)
                .collect(),
            events,
            links,
            status: Some(status),
            ..Default::default()
        }
    }
}

fn status(code: StatusCode, message: &str) -> Status {
    Status {
        code: code as i32,
        message: message.to_owned(),
    }
}

fn key_value(key: &str, value: &str) -> KeyValue {
    Attribute::text(key, value).to_key_value()
}
