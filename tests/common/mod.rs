//! Helpers shared by the integration tests: the real binary with an isolated data
//! directory, and polling for conditions instead of sleeping.
#![allow(dead_code)]

pub mod live;

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

/// `rectune run` for `rounds` rounds on the database `db` in `dir`, which must succeed:
/// its progress text and its JSON summary.
pub fn run_rounds(dir: &Path, rounds: u32) -> (String, serde_json::Value) {
    let rounds = rounds.to_string();
    let out = rectune(dir)
        .args(["run", "--rounds", &rounds, "--db", "db", "--json-summary", "s.json"])
        .output()
        .expect("start rectune");
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    (stdout(&out), read_json(&dir.join("s.json")))
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

/// `text` with `from` replaced by `to`, for task variants: an edit that no longer
/// matches the task file's text would silently test the file unchanged.
pub fn replacing(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` is not in the task file any more: update the variant");
    text.replace(from, to)
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// A `rectune platform serve` process on a free loopback port, killed on drop.
pub struct PlatformServer {
    pub url: String,
    child: std::process::Child,
}

impl PlatformServer {
    /// Starts the server with extra `args` and waits for the URL it prints.
    pub fn start(dir: &Path, args: &[&str]) -> PlatformServer {
        use std::io::BufRead;
        let mut child = rectune(dir)
            .args(["platform", "serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start rectune platform serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).expect("the server prints its URL");
        let url = line.rsplit(' ').next().expect("a URL at the end of the line").to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        PlatformServer { url, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PlatformServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
