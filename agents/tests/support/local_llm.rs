//! A private llama.cpp server for tests that need a real model.
//!
//! `scripts/local-llm.sh install` (run by `make llm-install`) caches `llama-server` and
//! SmolLM2-135M-Instruct under `$RECTUNE_LLM_HOME` (default `~/.cache/rectune/llm`).
//! [`LocalLlm::start`] asks the script where they are, starts a server of its own on a free
//! loopback port, waits until it is healthy and kills it when dropped. A missing install is
//! a test failure naming the command to run, never a silent skip.
//!
//! Include it with `#[path = "support/local_llm.rs"] mod local_llm;` (from the workspace
//! root's tests: `#[path = "../agents/tests/support/local_llm.rs"]`).

#![allow(dead_code)]

use agents::llm::{Backend, LlmSettings};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The model name the server answers to (`--alias`).
pub const MODEL: &str = "smollm2";

const INSTALL_HINT: &str = "run `make llm-install` (or `scripts/local-llm.sh install`) first";
const START_TIMEOUT: Duration = Duration::from_secs(120);
const POLL_EVERY: Duration = Duration::from_millis(100);
/// Tries with a new port when the server dies before becoming healthy, e.g. because
/// another process took the port between our probe and its bind.
const START_TRIES: usize = 3;
const LOG_TAIL_LINES: usize = 30;

/// The repository root, for tests of the `agents` crate and of the root crate alike.
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if manifest.join("scripts/local-llm.sh").is_file() {
        manifest.to_path_buf()
    } else {
        manifest.join("..")
    }
}

/// Where `scripts/local-llm.sh` keeps the server binary and the model.
#[derive(Debug, Clone)]
pub struct Install {
    pub server: PathBuf,
    pub model: PathBuf,
}

impl Install {
    /// Asks `scripts/local-llm.sh paths` (which honours `RECTUNE_LLM_HOME`) and checks that
    /// both files are there; panics with the command to run when they are not.
    pub fn locate() -> Install {
        let root = repo_root();
        let script = root.join("scripts/local-llm.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("paths")
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "`{} paths` failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = |key: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("`{} paths` printed no {key}=...:\n{stdout}", script.display()))
        };
        let install = Install { server: value("LLAMA_SERVER"), model: value("LLM_MODEL") };
        assert!(
            is_executable(&install.server),
            "llama-server is not installed at {}: {INSTALL_HINT}",
            install.server.display()
        );
        assert!(
            install.model.is_file(),
            "the test model is not installed at {}: {INSTALL_HINT}",
            install.model.display()
        );
        install
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running `llama-server` owned by one test; killed (and reaped) on drop.
pub struct LocalLlm {
    child: Child,
    port: u16,
    log: PathBuf,
    /// Holds the log; removed after the server is gone.
    _dir: tempfile::TempDir,
    /// Time from spawning the server to its first healthy `/health`.
    pub startup: Duration,
}

impl LocalLlm {
    /// Starts a server with prompt caching off (see [`LocalLlm::start_with`]).
    pub fn start() -> LocalLlm {
        LocalLlm::start_with(&["--no-cache-prompt"])
    }

    /// Starts `llama-server -m MODEL --host 127.0.0.1 --port P -t 1 -c 2048 --alias smollm2`
    /// plus `extra` arguments, and waits until `GET /health` answers 200.
    ///
    /// `start()` passes `--no-cache-prompt`: with the prompt cache on, a repeated request
    /// evaluates only its last prompt token instead of the whole prompt, the logits differ
    /// in the last bits, and even at temperature 0 the answer can differ from the first one.
    pub fn start_with(extra: &[&str]) -> LocalLlm {
        let install = Install::locate();
        let dir = tempfile::Builder::new().prefix("rectune-llm-").tempdir().expect("a temporary directory");
        let log = dir.path().join("llama-server.log");
        let mut failures = Vec::new();
        for _ in 0..START_TRIES {
            let port = free_port();
            let spawned = Instant::now();
            let mut child = spawn(&install, port, &log, extra);
            match wait_healthy(&mut child, port, &log) {
                Ok(()) => return LocalLlm { child, port, log, _dir: dir, startup: spawned.elapsed() },
                Err(why) => {
                    stop(&mut child);
                    let failure = format!("port {port}: {why}\n{}", tail(&log, LOG_TAIL_LINES));
                    if why.starts_with("no healthy answer") {
                        panic!("llama-server did not start: {failure}");
                    }
                    failures.push(failure);
                }
            }
        }
        panic!("llama-server did not start in {START_TRIES} tries:\n{}", failures.join("\n----\n"));
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`, the root the OpenAI client adds `/v1/...` to.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// OpenAI-backend settings for this server: temperature 0, no retries (a local server
    /// that fails should fail the test at once), everything else the defaults.
    pub fn settings(&self) -> LlmSettings {
        LlmSettings {
            backend: Backend::OpenAi,
            base_url: self.base_url(),
            model: MODEL.into(),
            temperature: 0.0,
            max_retries: 0,
            ..LlmSettings::default()
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log, LOG_TAIL_LINES)
    }
}

impl Drop for LocalLlm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("llama-server (pid {}, port {}) log tail:\n{}", self.pid(), self.port, self.log_tail());
        }
        stop(&mut self.child);
    }
}

/// A port nothing listens on right now: bind port 0, read what the kernel chose, release it.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
    listener.local_addr().expect("a bound socket has an address").port()
}

fn spawn(install: &Install, port: u16, log: &Path, extra: &[&str]) -> Child {
    let out = std::fs::File::create(log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let err = out.try_clone().expect("duplicating the log file handle");
    Command::new(&install.server)
        .arg("-m")
        .arg(&install.model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "-t", "1", "-c", "2048", "--alias", MODEL])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", install.server.display()))
}

/// Polls `/health` until it answers 200. Connection refused and 503 ("Loading model") are
/// the normal states of a starting server. The server must also have logged that it listens
/// on our port, so a 200 from some other process that holds the port is not mistaken for it.
fn wait_healthy(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let listening = format!("listening on http://127.0.0.1:{port}");
    let mut last = String::from("nothing yet");
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("cannot check the server process: {e}"))? {
            return Err(format!("llama-server exited ({status}) before becoming healthy; last /health: {last}"));
        }
        match health(port) {
            Ok(200) if std::fs::read_to_string(log).is_ok_and(|text| text.contains(&listening)) => return Ok(()),
            Ok(200) => last = format!("HTTP 200, but the log does not say `{listening}`"),
            Ok(code) => last = format!("HTTP {code}"),
            Err(e) => last = e,
        }
        if Instant::now() >= deadline {
            return Err(format!("no healthy answer within {} s; last /health: {last}", START_TIMEOUT.as_secs()));
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Status code of `GET /health`, by a hand-written HTTP/1.1 request so no runtime is needed.
fn health(port: u16) -> Result<u16, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;
    // The status line fits in the first read; the body does not matter.
    let mut head = [0u8; 256];
    let n = stream.read(&mut head).map_err(|e| format!("receive: {e}"))?;
    let head = String::from_utf8_lossy(&head[..n]);
    let status_line = head.lines().next().unwrap_or_default();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))
}

/// SIGKILL and reap; a process that already exited is only reaped.
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
