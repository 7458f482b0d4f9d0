//! The log stream: JSON lines with the current span and its parents, to a file and
//! optionally to stderr, filtered by `RUST_LOG` (default `info`). The file writer runs
//! on its own thread so no actor blocks on disk.

use std::path::Path;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot write the log file `{path}`: {reason}; set run.log_file (or --log-file) to a writable path")]
    File { path: String, reason: String },
}

/// Keeps the log writer alive; dropping it flushes the remaining lines.
pub struct Telemetry {
    _guard: WorkerGuard,
}

pub fn init(log_file: &Path, also_stderr: bool) -> Result<Telemetry, TelemetryError> {
    let err = |e: std::io::Error| TelemetryError::File { path: log_file.display().to_string(), reason: e.to_string() };
    if let Some(dir) = log_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log_file).map_err(err)?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let file_layer =
        fmt::layer().json().with_current_span(true).with_span_list(true).with_writer(writer).with_filter(filter());
    let stderr_layer = also_stderr.then(|| {
        fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_filter(filter())
    });
    // A second init (tests running several commands in one process) keeps the first.
    let _ = tracing_subscriber::registry().with(file_layer).with(stderr_layer).try_init();
    Ok(Telemetry { _guard: guard })
}
