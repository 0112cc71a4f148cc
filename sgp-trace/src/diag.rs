//! The runtime's own messages: through the `log` facade when the program installed a
//! logger, else on standard error, so a warning such as "no credentials" is never invisible.

use std::fmt;

/// Writes a warning.
pub(crate) fn warn(message: fmt::Arguments<'_>) {
    emit(log::Level::Warn, message);
}

/// Writes an error.
pub(crate) fn error(message: fmt::Arguments<'_>) {
    emit(log::Level::Error, message);
}

/// Writes an informational line; only through a logger, never on standard error.
pub(crate) fn info(message: fmt::Arguments<'_>) {
    if log::max_level() != log::LevelFilter::Off {
        log::info!(target: "sgp_trace", "{message}");
    }
}

fn emit(level: log::Level, message: fmt::Arguments<'_>) {
    // `log` keeps its maximum level at Off until a logger is installed.
    if log::max_level() == log::LevelFilter::Off {
        eprintln!("[sgp-trace {level}] {message}");
    } else {
        log::log!(target: "sgp_trace", level, "{message}");
    }
}
