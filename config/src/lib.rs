//! Configuration shared by the edge (`mirrorfleet-edge`) and the control plane (`mirrorfleet`).
//!
//! Both binaries read one TOML file plus environment variables, with the same precedence and
//! the same error messages (control-plane.md §10, edge-protocol.md §16), and an operator
//! writes `10s`, `16MiB` or `10.0.0.0/8` the same way for both. So the parts that do not
//! depend on which binary reads them live here, once:
//!
//! - [`values`]: one parser per kind of value (`parse_*` read text and also serve as flag
//!   parsers; `conv_*` read a TOML value and say what was expected when it does not fit);
//! - [`Sources`]: the layered reader. One file read keeping the line of every key, then the
//!   environment variables `<PREFIX><SECTION>__<KEY>` read as TOML values, `<key>_file` for
//!   secrets, unknown keys rejected with a suggestion, and the [`Origin`] of every value;
//! - [`S3Config`]: the `[store.s3]` keys with their fallbacks to the standard AWS variables;
//! - [`ConfigError`]: the one-line error that names the key and where its value came from.
//!
//! A binary brings its [`Schema`] (its keys, its environment prefix, its file names) and the
//! builder that turns [`Sources`] into its own typed configuration with its own defaults.

mod document;
mod error;
mod logging;
mod s3;
mod sources;
pub mod values;

#[cfg(test)]
mod tests;

pub use error::ConfigError;
pub use logging::init_logging;
pub use s3::{ConditionalPut, S3Config};
pub use sources::{Origin, Schema, Sources, process_env};
pub use values::{
    LogFormat, StoreLocation, format_duration, format_size, parse_duration, parse_listen,
    parse_log_level, parse_network, parse_size, parse_store_url,
};
