//! The span types and statuses of the SGP API.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! span_types {
    ($($variant:ident => $wire:literal),+ $(,)?) => {
        /// The kind of work a span records; one of the 26 types SGP knows.
        ///
        /// A trace's root span defaults to [`SpanType::Tracer`], any other span to
        /// [`SpanType::Standalone`].
        ///
        /// ```
        /// use sgp_trace::SpanType;
        /// let kind: SpanType = "COMPLETION".parse().unwrap();
        /// assert_eq!(kind, SpanType::Completion);
        /// assert_eq!(kind.as_str(), "COMPLETION");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum SpanType {
            $(
                #[doc = concat!("`", $wire, "`")]
                #[serde(rename = $wire)]
                $variant,
            )+
        }

        impl SpanType {
            /// Every span type, in the order of the API's documentation.
            pub const ALL: &'static [SpanType] = &[$(SpanType::$variant),+];

            /// The name SGP uses on the wire, such as `"AGENT_WORKFLOW"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(SpanType::$variant => $wire,)+
                }
            }
        }

        impl FromStr for SpanType {
            type Err = UnknownSpanType;

            fn from_str(text: &str) -> Result<SpanType, UnknownSpanType> {
                match text {
                    $($wire => Ok(SpanType::$variant),)+
                    _ => Err(UnknownSpanType(text.to_owned())),
                }
            }
        }
    };
}

span_types! {
    TextInput => "TEXT_INPUT",
    TextOutput => "TEXT_OUTPUT",
    CompletionInput => "COMPLETION_INPUT",
    Completion => "COMPLETION",
    KbRetrieval => "KB_RETRIEVAL",
    KbInput => "KB_INPUT",
    Reranking => "RERANKING",
    ExternalEndpoint => "EXTERNAL_ENDPOINT",
    PromptEngineering => "PROMPT_ENGINEERING",
    DocumentInput => "DOCUMENT_INPUT",
    MapReduce => "MAP_REDUCE",
    DocumentSearch => "DOCUMENT_SEARCH",
    DocumentPrompt => "DOCUMENT_PROMPT",
    Custom => "CUSTOM",
    CodeExecution => "CODE_EXECUTION",
    DataManipulation => "DATA_MANIPULATION",
    Evaluation => "EVALUATION",
    FileRetrieval => "FILE_RETRIEVAL",
    KbAddChunk => "KB_ADD_CHUNK",
    KbManagement => "KB_MANAGEMENT",
    Guardrail => "GUARDRAIL",
    OutputGuardrail => "OUTPUT_GUARDRAIL",
    Tracer => "TRACER",
    AgentTracer => "AGENT_TRACER",
    AgentWorkflow => "AGENT_WORKFLOW",
    Standalone => "STANDALONE",
}

impl fmt::Display for SpanType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the SGP span types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSpanType(pub String);

impl fmt::Display for UnknownSpanType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown span type {:?}; expected one of ", self.0)?;
        for (index, kind) in SpanType::ALL.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            f.write_str(kind.as_str())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownSpanType {}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpanStatus {
    /// The work finished normally.
    Success,
    /// The work failed; the span's metadata says how.
    Error,
    /// The work was abandoned before it finished (a dropped future, a shutdown).
    Canceled,
}

impl SpanStatus {
    /// The name SGP uses on the wire, such as `"SUCCESS"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Success => "SUCCESS",
            SpanStatus::Error => "ERROR",
            SpanStatus::Canceled => "CANCELED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_26_types_and_each_round_trips() {
        assert_eq!(SpanType::ALL.len(), 26);
        for kind in SpanType::ALL {
            assert_eq!(kind.as_str().parse::<SpanType>(), Ok(*kind));
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn unknown_type_lists_valid_ones() {
        let err = "LLM".parse::<SpanType>().unwrap_err();
        assert!(err.to_string().contains("AGENT_WORKFLOW"));
    }

    #[test]
    fn status_wire_names() {
        assert_eq!(
            serde_json::to_string(&SpanStatus::Canceled).unwrap(),
            "\"CANCELED\""
        );
    }
}
