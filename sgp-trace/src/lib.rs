//! sgp-trace
