//! Helpers shared by the integration tests: the real binary with an isolated data
//! directory, and polling for conditions instead of sleeping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `rectune` binary with the log file and the optimum cache inside `dir`.
pub fn rectune(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rectune"));
    c.current_dir(dir)
        .env("RECTUNE_CACHE_DIR", cache_dir())
        .env("RECTUNE__RUN__LOG_FILE", dir.join("log.jsonl"))
        .env_remove("RUST_LOG");
    c
}

/// One cache of simulator optima for the whole suite, so each is computed once.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rectune-cache")
}

pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A task file derived from the default one with `edit` applied to its text.
pub fn task_variant(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo_file("config/tasks/rank-fusion.toml")).expect("default task file");
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).expect("write task variant");
    path
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}
