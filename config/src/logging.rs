//! The `[log]` settings applied: one `tracing` subscriber on standard error, text or JSON.

use crate::LogFormat;

/// Installs the process-wide subscriber: `level` (a level or a `tracing` filter, as
/// `log.level` holds it), unless the variable `override_var` holds a filter; ANSI colours only
/// on a terminal.
pub fn init_logging(level: &str, format: LogFormat, override_var: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(override_var)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
