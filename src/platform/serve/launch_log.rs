//! The server's own record of launches: one JSON line per launch request that reached
//! the simulator, appended and synced before the answer goes out, in a file that
//! belongs to the server and not to any run.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LaunchOutcome {
    /// A new experiment started.
    Launched,
    /// The key was known with the same body: the earlier experiment was returned.
    Repeated,
    /// The key was known with another body: refused with 409.
    Conflict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchEvent {
    pub outcome: LaunchOutcome,
    pub key: String,
    pub name: String,
    pub experiment_id: Option<String>,
    pub unix_ms: u64,
}

/// Appends events to a file (or keeps none when no file is configured).
#[derive(Clone, Default)]
pub struct LaunchLog {
    file: Option<Arc<Mutex<std::fs::File>>>,
    path: Option<PathBuf>,
}

impl LaunchLog {
    pub fn open(path: &Path) -> std::io::Result<LaunchLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LaunchLog { file: Some(Arc::new(Mutex::new(file))), path: Some(path.to_path_buf()) })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Blocking: call from a blocking pool, not from an async handler directly.
    pub fn append(&self, event: &LaunchEvent) -> std::io::Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&line)?;
        f.sync_data()
    }

    /// Every event of a log file; lines that do not parse (a torn last line) are skipped.
    pub fn read(path: &Path) -> std::io::Result<Vec<LaunchEvent>> {
        let text = std::fs::read_to_string(path)?;
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_a_reopen_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("launches.jsonl");
        let event = |outcome, key: &str| LaunchEvent {
            outcome,
            key: key.into(),
            name: "t/round-1".into(),
            experiment_id: Some("exp-1".into()),
            unix_ms: 1,
        };
        LaunchLog::open(&path).expect("open").append(&event(LaunchOutcome::Launched, "a")).expect("append");
        LaunchLog::open(&path).expect("reopen").append(&event(LaunchOutcome::Repeated, "a")).expect("append");
        std::fs::OpenOptions::new().append(true).open(&path).expect("open").write_all(b"{\"outcome\":").expect("tear");
        let events = LaunchLog::read(&path).expect("read");
        assert_eq!(events, vec![event(LaunchOutcome::Launched, "a"), event(LaunchOutcome::Repeated, "a")]);
    }
}
