//! How a failed span's error is classified: the `error_category` metadata of the Python SDK.

use std::fmt;

/// Who is at fault for an error, recorded as the span's `error_category` metadata.
///
/// ```
/// use sgp_trace::ErrorCategory;
/// assert_eq!(ErrorCategory::Platform.as_str(), "platform");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The application's own failure (bad input, a bug); the default for `Err` values.
    Application,
    /// A failure of the platform the application runs on (a model provider, SGP itself).
    Platform,
    /// Not known.
    Unknown,
}

impl ErrorCategory {
    /// The wire name: `application`, `platform` or `unknown`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Application => "application",
            ErrorCategory::Platform => "platform",
            ErrorCategory::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets an error type choose the `error_category` that [`#[traced]`](crate::traced) records
/// when a function returns it as `Err`. Errors that do not implement it are `application`
/// errors, like the Python SDK's `ApplicationError`.
///
/// ```
/// use sgp_trace::{CategorizeError, ErrorCategory};
///
/// #[derive(Debug)]
/// enum LlmError {
///     RateLimited,
///     BadPrompt,
/// }
///
/// impl CategorizeError for LlmError {
///     fn error_category(&self) -> ErrorCategory {
///         match self {
///             LlmError::RateLimited => ErrorCategory::Platform,
///             LlmError::BadPrompt => ErrorCategory::Application,
///         }
///     }
/// }
/// assert_eq!(LlmError::RateLimited.error_category(), ErrorCategory::Platform);
/// ```
pub trait CategorizeError {
    /// The category of this error.
    fn error_category(&self) -> ErrorCategory;
}
