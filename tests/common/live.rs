//! Talking to a `rectune run` while it goes: the process with its output collected, its
//! status endpoint (found through the address file next to its database), plain HTTP
//! requests to it, and signals.

use super::rectune;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `rectune run` in the background; killed (SIGKILL) on drop if still running.
pub struct LiveRun {
    child: Child,
    dir: PathBuf,
    db: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    })
}

impl LiveRun {
    /// `rectune run --db DB ARGS...` in `dir`, with the status endpoint on a free port
    /// and `envs` set.
    pub fn start(dir: &Path, db: &str, args: &[&str], envs: &[(&str, &str)]) -> LiveRun {
        let mut cmd = rectune(dir);
        cmd.args(["run", "--db", db]).args(args).env("RECTUNE__STATUS__ADDR", "127.0.0.1:0");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start rectune run");
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), Arc::clone(&stdout)),
            collect(child.stderr.take().expect("piped stderr"), Arc::clone(&stderr)),
        ];
        LiveRun { child, dir: dir.to_path_buf(), db: db.to_string(), stdout, stderr, readers }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// The status endpoint's address, once this process has written it (an address file
    /// left by an earlier, killed process names another pid and is ignored).
    pub fn status_addr(&mut self, timeout: Duration) -> String {
        let file = self.dir.join(format!("{}.status.json", self.db));
        let pid = u64::from(self.pid());
        let mut addr = None;
        let found = super::wait_for(timeout, || {
            let record: Option<Value> = std::fs::read_to_string(&file).ok().and_then(|t| serde_json::from_str(&t).ok());
            addr = record.filter(|r| r["pid"].as_u64() == Some(pid)).and_then(|r| r["addr"].as_str().map(String::from));
            addr.is_some() || matches!(self.child.try_wait(), Ok(Some(_)))
        });
        match addr {
            Some(a) if found => a,
            _ => panic!("no status address from pid {pid}; stderr: {}\nstdout: {}", self.stderr(), self.stdout()),
        }
    }

    /// Polls `/status` until `cond` holds for it; panics with the last state if it never does.
    pub fn wait_status(
        &mut self,
        addr: &str,
        token: Option<&str>,
        timeout: Duration,
        cond: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = Value::Null;
        let ok = super::wait_for(timeout, || {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            if let Ok((200, body)) = http(addr, "GET", "/status", token) {
                last = serde_json::from_str(&body).unwrap_or(Value::Null);
            }
            cond(&last)
        });
        assert!(ok && cond(&last), "condition never held; last /status: {last:#}\nstderr: {}", self.stderr());
        last
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`) with kill(1).
    pub fn signal(&self, name: &str) {
        let out = std::process::Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .output()
            .expect("run kill(1)");
        assert!(out.status.success(), "kill -{name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Waits for the process to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut status = None;
        super::wait_for(timeout, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        let Some(status) = status else {
            panic!("rectune run did not exit within {timeout:?}; stderr: {}", self.stderr());
        };
        // The readers end with the pipes: after this every line is collected.
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to `addr` (no body): the status code and the body.
pub fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked"));
    Ok((code, if chunked { dechunk(body) } else { body.to_string() }))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
