//! `rectune logs`: the JSON-lines log stream made readable, filtered to one agent, task
//! or level, and optionally followed while a run is still writing it.

use serde_json::{Map, Value};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// How often follow mode looks for appended lines.
const POLL: Duration = Duration::from_millis(200);
const READ_CHUNK: usize = 64 * 1024;
const AGENT_WIDTH: usize = 8;
const ROUND_WIDTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error(
        "no log file at `{path}`; pass the run's log file (`rectune logs FILE`), point --log-file or \
         run.log_file at it, or add --follow to wait for it"
    )]
    NotFound { path: String },
    #[error("cannot read the log file `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write the log output: {0}")]
    Output(#[source] std::io::Error),
    #[error("--level `{0}` is not a level; use one of trace, debug, info, warn, error")]
    Level(String),
}

/// Severity in tracing's order, so `--level warn` keeps WARN and ERROR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    #[default]
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl FromStr for Level {
    type Err = LogsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "trace" => Ok(Level::Trace),
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            _ => Err(LogsError::Level(s.to_string())),
        }
    }
}

/// Which lines to show and how.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub agent: Option<String>,
    pub task: Option<String>,
    pub min_level: Level,
    pub json: bool,
}

impl LogQuery {
    fn filters(&self) -> bool {
        self.agent.is_some() || self.task.is_some() || self.min_level > Level::Trace
    }
}

/// The readable form of one log line, or `None` when the query filters it out.
pub fn format_line(line: &str, q: &LogQuery) -> Option<String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return None;
    }
    let Some(entry) = serde_json::from_str::<Value>(line).ok().and_then(|v| v.as_object().cloned()) else {
        // JSON consumers must only ever see JSON; a filter cannot vouch for an unreadable line.
        return (!q.filters() && !q.json).then(|| format!("? {}", one_line(line)));
    };
    if !matches(&entry, q) {
        return None;
    }
    Some(if q.json { line.to_string() } else { readable(&entry) })
}

fn matches(entry: &Map<String, Value>, q: &LogQuery) -> bool {
    let level_ok = match entry.get("level").and_then(Value::as_str).and_then(|l| l.parse::<Level>().ok()) {
        Some(level) => level >= q.min_level,
        None => q.min_level == Level::Trace,
    };
    let agent_ok = q.agent.as_ref().is_none_or(|want| agents(entry).iter().any(|a| a.eq_ignore_ascii_case(want)));
    let task_ok = q.task.as_ref().is_none_or(|want| tasks(entry).iter().any(|t| t == want));
    level_ok && agent_ok && task_ok
}

/// The current span and its parents, innermost first, so the nearest context wins.
fn spans(entry: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    let current = entry.get("span").and_then(Value::as_object);
    let parents = entry.get("spans").and_then(Value::as_array).into_iter().flatten().rev().filter_map(Value::as_object);
    current.into_iter().chain(parents).collect()
}

fn fields(entry: &Map<String, Value>) -> Option<&Map<String, Value>> {
    entry.get("fields").and_then(Value::as_object)
}

fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

fn agents(entry: &Map<String, Value>) -> Vec<&str> {
    let from_spans = spans(entry).into_iter().filter_map(|s| str_field(s, "agent"));
    from_spans.chain(fields(entry).and_then(|f| str_field(f, "agent"))).collect()
}

/// Agent spans carry the task inside `round` ("rank-fusion/round-2"); the coordinator's
/// round span and the Skillhub's spans carry it as `task`.
fn tasks(entry: &Map<String, Value>) -> Vec<&str> {
    let mut found = Vec::new();
    for span in spans(entry) {
        found.extend(str_field(span, "round").and_then(|r| r.split_once("/round-")).map(|(task, _)| task));
        found.extend(str_field(span, "task"));
    }
    found.extend(fields(entry).and_then(|f| str_field(f, "task")));
    found
}

fn readable(entry: &Map<String, Value>) -> String {
    let time = str_field(entry, "timestamp").map_or_else(|| "-".to_string(), time_of_day);
    let level = str_field(entry, "level").unwrap_or("-");
    let who =
        agents(entry).first().map_or_else(|| str_field(entry, "target").unwrap_or("-").to_string(), |a| a.to_string());
    let round = round_ref(entry);
    let message = fields(entry).and_then(|f| str_field(f, "message")).unwrap_or("");
    let mut text = format!("{time} {level:<5} {who:<AGENT_WIDTH$} {round:<ROUND_WIDTH$} {}", one_line(message));
    let pairs = key_values(entry, &who);
    if !pairs.is_empty() {
        text.push_str("  ");
        text.push_str(&pairs);
    }
    text
}

/// `10:54:44.892` from an RFC 3339 timestamp; the date adds nothing when following a run.
fn time_of_day(ts: &str) -> String {
    let Some((_, clock)) = ts.split_once('T') else {
        return ts.to_string();
    };
    let hms: String = clock.chars().take(8).collect();
    if hms.len() != 8 || !hms.chars().all(|c| c.is_ascii_digit() || c == ':') {
        return ts.to_string();
    }
    let frac: String = clock
        .get(8..)
        .unwrap_or("")
        .strip_prefix('.')
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .take(3)
        .collect();
    format!("{hms}.{frac:0<3}")
}

/// `rank-fusion/r2`: short enough to leave room for the message, whichever span named it.
fn round_ref(entry: &Map<String, Value>) -> String {
    for span in spans(entry) {
        match span.get("round") {
            Some(Value::String(r)) => {
                return r.split_once("/round-").map_or_else(|| r.clone(), |(task, n)| format!("{task}/r{n}"))
            }
            Some(Value::Number(n)) => {
                return str_field(span, "task").map_or_else(|| format!("r{n}"), |task| format!("{task}/r{n}"))
            }
            _ => {}
        }
    }
    "-".to_string()
}

fn key_values(entry: &Map<String, Value>, shown_agent: &str) -> String {
    let Some(fields) = fields(entry) else {
        return String::new();
    };
    let mut keys: Vec<&String> = fields
        .keys()
        .filter(|k| *k != "message" && !(*k == "agent" && str_field(fields, "agent") == Some(shown_agent)))
        .collect();
    keys.sort();
    let pairs: Vec<String> = keys.into_iter().map(|k| format!("{k}={}", value_text(&fields[k]))).collect();
    pairs.join(" ")
}

/// Bare words stay bare; anything that would blur the `key=value` boundaries is quoted.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) if !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"') => {
            s.clone()
        }
        other => other.to_string(),
    }
}

/// One output line per log line, whatever the message holds.
fn one_line(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Prints the matching lines of `path`; with `follow`, keeps printing lines appended to it
/// until the process is killed.
pub fn run(path: &Path, follow: bool, q: &LogQuery, out: &mut dyn Write) -> Result<(), LogsError> {
    if follow {
        return run_until(path, q, out, || false);
    }
    quiet_on_closed_pipe(print_once(path, q, out))
}

/// Follow mode that returns once `stop` holds (checked after each poll), so it can be tested
/// and embedded.
pub fn run_until(path: &Path, q: &LogQuery, out: &mut dyn Write, stop: impl Fn() -> bool) -> Result<(), LogsError> {
    quiet_on_closed_pipe(follow_until(path, q, out, stop))
}

/// `rectune logs | head` closing the pipe is how a reader says "enough", not a failure.
fn quiet_on_closed_pipe(result: Result<(), LogsError>) -> Result<(), LogsError> {
    match result {
        Err(LogsError::Output(e)) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn print_once(path: &Path, q: &LogQuery, out: &mut dyn Write) -> Result<(), LogsError> {
    let mut tail = Tail::new(path);
    let mut sink = Sink { q, out };
    if !tail.open()? {
        return Err(LogsError::NotFound { path: path.display().to_string() });
    }
    tail.drain(&mut sink)?;
    // A last line without its newline is all there will be when not following.
    let rest = std::mem::take(&mut tail.pending);
    sink.line(&rest)?;
    sink.out.flush().map_err(LogsError::Output)
}

fn follow_until(path: &Path, q: &LogQuery, out: &mut dyn Write, stop: impl Fn() -> bool) -> Result<(), LogsError> {
    let mut tail = Tail::new(path);
    let mut sink = Sink { q, out };
    loop {
        tail.poll(&mut sink)?;
        sink.out.flush().map_err(LogsError::Output)?;
        if stop() {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// Formats and writes complete lines.
struct Sink<'a> {
    q: &'a LogQuery,
    out: &'a mut dyn Write,
}

impl Sink<'_> {
    fn line(&mut self, bytes: &[u8]) -> Result<(), LogsError> {
        match format_line(&String::from_utf8_lossy(bytes), self.q) {
            Some(text) => writeln!(self.out, "{text}").map_err(LogsError::Output),
            None => Ok(()),
        }
    }
}

/// A reader of a growing file that survives it not existing yet, being truncated, or being
/// replaced by a new file at the same path.
struct Tail<'a> {
    path: &'a Path,
    file: Option<File>,
    identity: Option<FileId>,
    pos: u64,
    /// Bytes after the last newline: a line the writer has not finished yet.
    pending: Vec<u8>,
}

impl<'a> Tail<'a> {
    fn new(path: &'a Path) -> Self {
        Tail { path, file: None, identity: None, pos: 0, pending: Vec::new() }
    }

    fn read_err(&self, e: std::io::Error) -> LogsError {
        LogsError::Read { path: self.path.display().to_string(), reason: e.to_string() }
    }

    /// Opens the path from its start; `false` when there is no file there (yet).
    fn open(&mut self) -> Result<bool, LogsError> {
        let file = match File::open(self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.read_err(e)),
        };
        self.identity = file.metadata().ok().as_ref().and_then(file_id);
        self.file = Some(file);
        self.pos = 0;
        self.pending.clear();
        Ok(true)
    }

    fn poll(&mut self, sink: &mut Sink) -> Result<(), LogsError> {
        if self.file.is_none() && !self.open()? {
            return Ok(());
        }
        // What the old file still holds comes before whatever replaced it.
        self.drain(sink)?;
        if self.replaced()? && self.open()? {
            self.drain(sink)?;
        }
        Ok(())
    }

    /// Truncated (shorter than what was read) or rotated (another file at the path). A
    /// vanished path keeps the old handle until a new file appears.
    fn replaced(&self) -> Result<bool, LogsError> {
        let meta = match std::fs::metadata(self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.read_err(e)),
        };
        let moved = matches!((file_id(&meta), self.identity), (Some(now), Some(was)) if now != was);
        Ok(moved || meta.len() < self.pos)
    }

    /// Reads to the current end in chunks, emitting every completed line.
    fn drain(&mut self, sink: &mut Sink) -> Result<(), LogsError> {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let Some(file) = self.file.as_mut() else {
                return Ok(());
            };
            let n = match file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_err(e)),
            };
            self.pos += n as u64;
            self.pending.extend_from_slice(&buf[..n]);
            self.emit_complete(sink)?;
        }
    }

    fn emit_complete(&mut self, sink: &mut Sink) -> Result<(), LogsError> {
        let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let complete: Vec<u8> = self.pending.drain(..=end).collect();
        complete.split(|&b| b == b'\n').try_for_each(|line| sink.line(line))
    }
}

#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = ();

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// Without inode numbers only truncation is detected.
#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRITIC: &str = r#"{"timestamp":"2026-11-23T10:54:44.892162Z","level":"INFO","fields":{"message":"rejected","candidate":"r1-c5","reason":"batch is full (4 arms per round)"},"target":"agents::critic","span":{"agent":"critic","kind":"Review","round":"rank-fusion/round-1","name":"message"},"spans":[{"agent":"critic","kind":"Review","round":"rank-fusion/round-1","name":"message"}]}"#;
    const COORDINATOR: &str = r#"{"timestamp":"2026-11-23T10:54:45.266358Z","level":"WARN","fields":{"message":"round complete","proposed":6,"accepted":4},"target":"agents::coordinator","span":{"round":1,"task":"rank-fusion","name":"round"},"spans":[{"round":1,"task":"rank-fusion","name":"round"}]}"#;
    const STARTED: &str = r#"{"timestamp":"2026-11-23T10:54:44.875419Z","level":"DEBUG","fields":{"message":"agent started","agent":"insight","task":"prerank-fusion","results":0},"target":"agents::insight"}"#;
    const NESTED: &str = r#"{"timestamp":"2026-11-23T10:54:44.9Z","level":"ERROR","fields":{"message":"launch failed"},"target":"rectune::platform","span":{"name":"http"},"spans":[{"agent":"online","round":"rerank-diversity/round-3","name":"message"},{"name":"http"}]}"#;

    fn query(agent: Option<&str>, task: Option<&str>, min_level: Level) -> LogQuery {
        LogQuery { agent: agent.map(str::to_string), task: task.map(str::to_string), min_level, json: false }
    }

    fn all() -> LogQuery {
        LogQuery::default()
    }

    #[test]
    fn agent_line_reads_as_time_level_agent_round_message_and_sorted_fields() {
        let text = format_line(CRITIC, &all()).expect("shown");
        assert_eq!(
            text,
            "10:54:44.892 INFO  critic   rank-fusion/r1   rejected  candidate=r1-c5 reason=\"batch is full (4 arms per round)\""
        );
    }

    #[test]
    fn numeric_round_takes_its_task_from_the_same_span() {
        let text = format_line(COORDINATOR, &all()).expect("shown");
        assert!(text.starts_with("10:54:45.266 WARN  agents::coordinator rank-fusion/r1 "), "{text}");
        assert!(text.ends_with("round complete  accepted=4 proposed=6"), "{text}");
    }

    #[test]
    fn agent_in_fields_fills_the_column_and_is_not_repeated() {
        let text = format_line(STARTED, &all()).expect("shown");
        assert!(text.starts_with("10:54:44.875 DEBUG insight  -"), "{text}");
        assert!(text.ends_with("agent started  results=0 task=prerank-fusion"), "{text}");
    }

    #[test]
    fn agent_filter_looks_at_span_parents_and_fields_case_insensitively() {
        assert!(format_line(CRITIC, &query(Some("Critic"), None, Level::Trace)).is_some());
        assert!(format_line(NESTED, &query(Some("online"), None, Level::Trace)).is_some());
        assert!(format_line(STARTED, &query(Some("insight"), None, Level::Trace)).is_some());
        assert!(format_line(COORDINATOR, &query(Some("critic"), None, Level::Trace)).is_none());
        assert!(format_line(CRITIC, &query(Some("actor"), None, Level::Trace)).is_none());
    }

    #[test]
    fn task_filter_uses_round_prefix_span_task_and_fields_task() {
        let rank = query(None, Some("rank-fusion"), Level::Trace);
        assert!(format_line(CRITIC, &rank).is_some());
        assert!(format_line(COORDINATOR, &rank).is_some());
        assert!(format_line(STARTED, &rank).is_none());
        assert!(format_line(STARTED, &query(None, Some("prerank-fusion"), Level::Trace)).is_some());
        assert!(format_line(NESTED, &query(None, Some("rerank-diversity"), Level::Trace)).is_some());
    }

    #[test]
    fn min_level_keeps_that_level_and_above() {
        let warn = query(None, None, Level::Warn);
        assert!(format_line(CRITIC, &warn).is_none());
        assert!(format_line(STARTED, &warn).is_none());
        assert!(format_line(COORDINATOR, &warn).is_some());
        assert!(format_line(NESTED, &warn).is_some());
    }

    #[test]
    fn levels_parse_in_any_case_and_order_by_severity() {
        assert_eq!("WaRn".parse::<Level>().ok(), Some(Level::Warn));
        assert_eq!("error".parse::<Level>().ok(), Some(Level::Error));
        assert!(Level::Trace < Level::Debug && Level::Debug < Level::Info);
        assert!(Level::Info < Level::Warn && Level::Warn < Level::Error);
        let e = "loud".parse::<Level>().expect_err("not a level").to_string();
        assert!(e.contains("--level") && e.contains("loud") && e.contains("trace, debug, info, warn, error"), "{e}");
    }

    #[test]
    fn json_mode_passes_matching_lines_unchanged() {
        let q = LogQuery { json: true, ..query(Some("critic"), None, Level::Info) };
        assert_eq!(format_line(CRITIC, &q).as_deref(), Some(CRITIC));
        assert!(format_line(COORDINATOR, &q).is_none());
    }

    #[test]
    fn malformed_lines_show_marked_only_without_filters() {
        for bad in ["not json at all", "{\"timestamp\":", "[1,2]", "42", "\u{0}\u{7f} binary\tjunk"] {
            let shown = format_line(bad, &all()).expect("shown without filters");
            assert!(shown.starts_with("? ") && !shown.contains('\n'), "{shown}");
            assert!(format_line(bad, &query(Some("critic"), None, Level::Trace)).is_none());
            assert!(format_line(bad, &query(None, None, Level::Info)).is_none());
            assert!(format_line(bad, &LogQuery { json: true, ..all() }).is_none());
        }
        assert!(format_line("", &all()).is_none());
        assert!(format_line("   \r\n", &all()).is_none());
    }

    #[test]
    fn odd_but_valid_json_never_panics_and_stays_on_one_line() {
        let cases = [
            r#"{}"#,
            r#"{"level":"LOUD","fields":"x","span":7,"spans":{"a":1}}"#,
            r#"{"timestamp":"T1","fields":{"message":"two\nlines","note":"a=b c","empty":"","n":null,"v":[1,"x"]}}"#,
            r#"{"timestamp":"2026-01-01T10:00:00Z","spans":[1,null,{"agent":5,"round":{"x":1}}]}"#,
            r#"{"timestamp":"2026-01-01T1é:00:00.5Z","level":"info"}"#,
        ];
        for line in cases {
            let text = format_line(line, &all()).expect("shown without filters");
            assert!(!text.contains('\n'), "{text}");
        }
        let text = format_line(cases[2], &all()).unwrap_or_default();
        assert!(text.contains(r#"two\nlines  empty="" n=null note="a=b c" v=[1,"x"]"#), "{text}");
        assert!(format_line(cases[1], &query(None, None, Level::Debug)).is_none());
    }

    #[test]
    fn time_of_day_pads_or_cuts_the_fraction_to_milliseconds() {
        assert_eq!(time_of_day("2026-11-23T10:54:44.874688Z"), "10:54:44.874");
        assert_eq!(time_of_day("2026-11-23T10:54:44.5+01:00"), "10:54:44.500");
        assert_eq!(time_of_day("2026-11-23T10:54:44Z"), "10:54:44.000");
        assert_eq!(time_of_day("yesterday"), "yesterday");
    }

    #[test]
    fn one_shot_reads_a_last_line_without_newline_and_reports_a_missing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, format!("{CRITIC}\n\n{COORDINATOR}")).expect("write log");
        let mut out = Vec::new();
        run(&path, false, &all(), &mut out).expect("reads");
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("round complete"), "{text}");
        let missing = dir.path().join("nope.jsonl");
        let e = run(&missing, false, &all(), &mut out).expect_err("missing file").to_string();
        assert!(e.contains("nope.jsonl") && e.contains("--log-file") && e.contains("run.log_file"), "{e}");
    }

    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from(ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn closed_output_ends_quietly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, format!("{CRITIC}\n")).expect("write log");
        assert!(run(&path, false, &all(), &mut ClosedPipe).is_ok());
        assert!(run_until(&path, &all(), &mut ClosedPipe, || true).is_ok());
    }

    #[test]
    fn tail_buffers_partial_lines_and_restarts_after_truncation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.jsonl");
        let q = all();
        let mut out = Vec::new();
        let mut tail = Tail::new(&path);
        tail.poll(&mut Sink { q: &q, out: &mut out }).expect("absent file is waited for");
        assert!(out.is_empty());
        let (head, rest) = CRITIC.split_at(40);
        std::fs::write(&path, head).expect("write half a line");
        tail.poll(&mut Sink { q: &q, out: &mut out }).expect("poll");
        assert!(out.is_empty(), "half a line must wait for its newline");
        append(&path, &format!("{rest}\n"));
        tail.poll(&mut Sink { q: &q, out: &mut out }).expect("poll");
        assert_eq!(String::from_utf8_lossy(&out).lines().count(), 1);
        std::fs::write(&path, "short\n").expect("truncate");
        tail.poll(&mut Sink { q: &q, out: &mut out }).expect("poll");
        assert!(String::from_utf8_lossy(&out).ends_with("? short\n"), "{}", String::from_utf8_lossy(&out));
    }

    #[cfg(unix)]
    #[test]
    fn tail_switches_to_a_rotated_in_file_after_draining_the_old_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, format!("{CRITIC}\n")).expect("write log");
        let q = all();
        let mut out = Vec::new();
        let mut tail = Tail::new(&path);
        tail.poll(&mut Sink { q: &q, out: &mut out }).expect("poll");
        append(&path, "old tail\n");
        std::fs::rename(&path, dir.path().join("log.jsonl.1")).expect("rotate");
        std::fs::write(&path, format!("{COORDINATOR}\n{CRITIC}\n{STARTED}\n")).expect("new file, longer");
        tail.poll(&mut Sink { q: &q, out: &mut out }).expect("poll");
        let text = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[1], "? old tail");
        assert!(lines[2].contains("round complete"), "{text}");
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open for append");
        f.write_all(text.as_bytes()).expect("append");
    }
}
