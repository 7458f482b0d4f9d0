//! `rectune status` against a running `rectune run` prints every agent's state, the task,
//! round and budget, and the incumbent; `/metrics` is valid Prometheus text with the
//! run's counters; `/healthz` answers; a bearer token guards everything but `/healthz`
//! and never shows up in the logs. Manual approval holds the run still while it is read.

mod common;
use common::live::{http, LiveRun};
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const AGENTS: [&str; 5] = ["actor", "critic", "online", "insight", "skill"];
const WAIT: Duration = Duration::from_secs(120);

fn pending(s: &Value) -> Vec<String> {
    s["pending_approvals"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_str().map(String::from)).collect()
}

fn status_cmd(dir: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = rectune(dir);
    c.arg("status").args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run rectune status")
}

#[test]
fn status_shows_every_agent_and_metrics_parse_as_prometheus_text() {
    let dir = tempfile::tempdir().unwrap();
    // The Critic crashes once in round 1, so the view has a restart and an error to show.
    let env = [
        ("RECTUNE__AGENTS__ONLINE__APPROVAL", "manual"),
        ("RECTUNE__CHAOS__AGENT", "critic"),
        ("RECTUNE__CHAOS__ROUND", "1"),
    ];
    let mut run = LiveRun::start(dir.path(), "db", &["--rounds", "3", "--seed", "5"], &env);
    let addr = run.status_addr(WAIT);
    assert_eq!(http(&addr, "GET", "/healthz", None).unwrap().0, 200);

    // Round 1 waits for a person; approve it so the run has a measured round behind it.
    run.wait_status(&addr, None, WAIT, |s| pending(s) == ["rank-fusion-r1"]);
    let ok = rectune(dir.path()).args(["approve", "rank-fusion-r1", "--db", "db", "--by", "ops"]).output().unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let s = run.wait_status(&addr, None, WAIT, |s| pending(s) == ["rank-fusion-r2"]);

    // The person's view, found through the address file next to the database.
    let out = status_cmd(dir.path(), &["--db", "db"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("(task rank-fusion): running, round 2 of 3"), "{text}");
    assert!(text.contains("incumbent:"), "{text}");
    // Columns: agent, state, mailbox, in-flight, handled, errors, restarts, work.
    let column = |agent: &str, n: usize| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(agent))
            .and_then(|l| l.split_whitespace().nth(n))
            .unwrap_or_else(|| panic!("no line for {agent}: {text}"))
            .to_string()
    };
    for agent in AGENTS {
        assert!(["idle", "busy"].contains(&column(agent, 1).as_str()), "{agent}: {text}");
        let restarts = if agent == "critic" { "1" } else { "0" };
        assert_eq!(column(agent, 6), restarts, "{agent}'s restarts: {text}");
    }
    assert_eq!(column("online", 1), "busy", "{text}");
    // The experiment waiting for a person is the Online agent's one message in flight.
    assert_eq!((column("online", 2), column("online", 3)), ("0".into(), "1".into()), "{text}");
    assert!(text.contains("RunExperiment round 2 (awaiting approval rank-fusion-r2"), "{text}");
    assert!(text.contains("last error: critic crashed while handling Review"), "{text}");
    assert!(text.contains("rectune approve rank-fusion-r2"), "{text}");

    // The same through --addr, as JSON.
    let out = status_cmd(dir.path(), &["--addr", &addr, "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = json["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, AGENTS);
    let critic = &json["agents"][1];
    assert_eq!((critic["restarts"].as_u64(), critic["errors"].as_u64()), (Some(1), Some(1)), "{critic:#}");
    assert!(critic["last_error"].as_str().is_some_and(|e| e.contains("crashed")), "{critic:#}");
    assert_eq!((json["run"]["round"].as_u64(), json["run"]["budget_rounds"].as_u64()), (Some(2), Some(3)));
    assert!(json["run"]["incumbent"]["config"].is_object(), "{:#}", json["run"]);

    let (code, body) = http(&addr, "GET", "/metrics", None).unwrap();
    assert_eq!(code, 200);
    let families = parse_prometheus(&body);
    check_metrics(&families, &s);
    let via_cli = status_cmd(dir.path(), &["--db", "db", "--metrics"], &[]);
    assert!(via_cli.status.success(), "{}", stderr(&via_cli));
    parse_prometheus(&stdout(&via_cli));

    // A signal while an experiment waits for a person parks it: the run ends cleanly and
    // takes its endpoint and address file with it.
    run.signal("TERM");
    let status = run.wait_exit(WAIT);
    assert!(status.success(), "exit {status:?}: {}", run.stderr());
    assert!(!dir.path().join("db.status.json").exists(), "the address file outlived the run");
    let gone = status_cmd(dir.path(), &["--addr", &addr], &[]);
    assert!(!gone.status.success() && stderr(&gone).contains("no rectune run answers"), "{}", stderr(&gone));
}

fn family<'a>(f: &'a Families, name: &str) -> &'a Family {
    f.get(name).unwrap_or_else(|| panic!("no metric family {name}; have {:?}", f.keys().collect::<Vec<_>>()))
}

fn value(f: &Families, name: &str, labels: &[(&str, &str)]) -> f64 {
    let fam = family(f, name);
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    fam.samples
        .iter()
        .find(|(l, _)| want.iter().all(|(k, v)| l.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("{name} has no sample with {labels:?}: {:?}", fam.samples))
        .1
}

fn sum(f: &Families, name: &str) -> f64 {
    family(f, name).samples.iter().map(|(_, v)| v).sum()
}

/// The run at the start of round 2's experiment: round 1 measured, round 2 reviewed.
fn check_metrics(f: &Families, status: &Value) {
    assert_eq!(family(f, "rectune_round").kind, "gauge");
    assert_eq!(value(f, "rectune_round", &[("task", "rank-fusion")]), 2.0);
    assert_eq!(value(f, "rectune_budget_rounds", &[]), 3.0);
    assert_eq!(value(f, "rectune_rounds_total", &[("outcome", "experiment")]), 1.0);
    assert_eq!(value(f, "rectune_launches_total", &[]), 1.0);
    assert_eq!(value(f, "rectune_approvals_pending", &[]), 1.0);
    assert_eq!(value(f, "rectune_approval_decisions_total", &[("decision", "approved")]), 1.0);
    // Every candidate of two rounds got one decision (the Actor proposes more than the
    // four arms a round holds); /metrics and /status count the same.
    let in_status: u64 = status["counters"]["verdicts"]
        .as_object()
        .into_iter()
        .flat_map(|by_reason| by_reason.values())
        .flat_map(|reasons| reasons.as_object().into_iter().flat_map(|r| r.values()))
        .filter_map(Value::as_u64)
        .sum();
    let verdicts = sum(f, "rectune_verdicts_total");
    assert!(verdicts >= 8.0 && verdicts == in_status as f64, "verdicts {verdicts}, /status {in_status}");
    assert!(value(f, "rectune_verdicts_total", &[("decision", "accepted")]) >= 2.0);
    assert!(sum(f, "rectune_skill_patches_total") >= 1.0, "round 1 learned nothing");
    for kind in ["counter", "gauge"] {
        assert!(f.values().any(|x| x.kind == kind), "no {kind}");
    }
    for name in ["rectune_llm_calls_total", "rectune_llm_tokens_total", "rectune_agent_restarts_total"] {
        assert_eq!(family(f, name).kind, "counter", "{name}");
        let agents: BTreeSet<&str> = family(f, name).samples.iter().map(|(l, _)| l["agent"].as_str()).collect();
        assert_eq!(agents, AGENTS.into_iter().collect(), "{name}");
    }
    // Built-in reasoning makes no model calls.
    assert_eq!(sum(f, "rectune_llm_calls_total"), 0.0);
    for agent in AGENTS {
        let states = family(f, "rectune_agent_state").samples.iter().filter(|(l, _)| l["agent"] == agent);
        let on: Vec<_> = states.filter(|(_, v)| *v == 1.0).map(|(l, _)| l["state"].clone()).collect();
        assert_eq!(on.len(), 1, "{agent} is in {on:?}");
    }
    assert_eq!(value(f, "rectune_agent_state", &[("agent", "online"), ("state", "busy")]), 1.0);
    assert_eq!(value(f, "rectune_agent_restarts_total", &[("agent", "critic")]), 1.0);
    assert_eq!(sum(f, "rectune_agent_restarts_total"), 1.0);
    assert!(value(f, "rectune_step_retries_total", &[]) >= 1.0, "the crashed step was not retried");
    assert!(value(f, "rectune_agent_messages_total", &[("agent", "actor")]) >= 2.0);
}

#[test]
fn a_bearer_token_guards_the_endpoint_and_never_reaches_the_logs() {
    const TOKEN: &str = "tok-5f3a9c1e-never-logged";
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("RECTUNE__AGENTS__ONLINE__APPROVAL", "manual"),
        ("RECTUNE__STATUS__TOKEN_ENV", "RECTUNE_TEST_STATUS_TOKEN"),
        ("RECTUNE_TEST_STATUS_TOKEN", TOKEN),
    ];
    let mut run = LiveRun::start(dir.path(), "db", &["--rounds", "1"], &env);
    let addr = run.status_addr(WAIT);
    run.wait_status(&addr, Some(TOKEN), WAIT, |s| pending(s) == ["rank-fusion-r1"]);

    assert_eq!(http(&addr, "GET", "/healthz", None).unwrap().0, 200);
    for path in ["/status", "/metrics", "/approvals"] {
        assert_eq!(http(&addr, "GET", path, None).unwrap().0, 401, "{path} without a token");
        assert_eq!(http(&addr, "GET", path, Some("wrong")).unwrap().0, 401, "{path} with a wrong token");
        assert_eq!(http(&addr, "GET", path, Some(TOKEN)).unwrap().0, 200, "{path} with the token");
    }
    assert_eq!(http(&addr, "POST", "/approvals/rank-fusion-r1/approve", None).unwrap().0, 401);

    // The commands send the token from the variable status.token_env names.
    let ok = status_cmd(dir.path(), &["--db", "db"], &env[1..]);
    assert!(ok.status.success() && stdout(&ok).contains("online"), "{}", stderr(&ok));
    let no_var = status_cmd(dir.path(), &["--db", "db"], &env[1..2]);
    assert!(!no_var.status.success() && stderr(&no_var).contains("RECTUNE_TEST_STATUS_TOKEN"), "{}", stderr(&no_var));
    let bad = status_cmd(dir.path(), &["--db", "db"], &[env[1], ("RECTUNE_TEST_STATUS_TOKEN", "wrong")]);
    assert!(!bad.status.success() && stderr(&bad).contains("401"), "{}", stderr(&bad));
    let approve = rectune(dir.path())
        .args(["approve", "rank-fusion-r1", "--db", "db", "--by", "ops"])
        .envs(env[1..].iter().copied())
        .output()
        .unwrap();
    assert!(approve.status.success(), "{}", stderr(&approve));
    let status = run.wait_exit(WAIT);
    assert!(status.success(), "{}", run.stderr());

    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert!(log.contains("status endpoint listening"), "the run logged nothing about its endpoint");
    for (what, text) in [("log stream", log), ("stdout", run.stdout()), ("stderr", run.stderr())] {
        assert!(!text.contains(TOKEN), "the token appears in the {what}");
    }
}

/// Every agent thinks with a mock model that answers in the wire format with token usage
/// but in the wrong shape: each question costs calls and tokens and falls back to the
/// built-in strategy. While round 1 waits for approval, /metrics and `rectune status`
/// show the Actor's and the Critic's calls and tokens.
#[actix::test]
async fn model_calls_and_tokens_show_while_the_run_goes() {
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let answer = serde_json::json!({
        "choices": [{"message": {"role": "assistant", "content": "{\"unexpected\": true}"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}
    });
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200).set_body_json(answer)).mount(&server).await;
    let url = server.uri();
    // The live run blocks this thread while it is watched; the mock answers from its own.
    actix_rt::task::spawn_blocking(move || watch_model_usage(&url)).await.expect("join");
}

fn watch_model_usage(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = repo_file("config/llm-local.toml").display().to_string();
    let env = [
        ("RECTUNE__AGENTS__ONLINE__APPROVAL", "manual"),
        ("RECTUNE__LLM__BASE_URL", url),
        ("RECTUNE__LLM__TIMEOUT_S", "5"),
        ("RECTUNE__LLM__MAX_RETRIES", "0"),
    ];
    let mut run = LiveRun::start(dir.path(), "db", &["--rounds", "1", "--config", &config], &env);
    let addr = run.status_addr(WAIT);
    run.wait_status(&addr, None, WAIT, |s| pending(s) == ["rank-fusion-r1"]);

    let (code, body) = http(&addr, "GET", "/metrics", None).unwrap();
    assert_eq!(code, 200, "{body}");
    let f = parse_prometheus(&body);
    for agent in ["actor", "critic"] {
        let calls = value(&f, "rectune_llm_calls_total", &[("agent", agent)]);
        assert!(calls >= 1.0, "{agent} made no model call: {body}");
        assert_eq!(
            value(&f, "rectune_llm_tokens_total", &[("agent", agent), ("kind", "prompt")]),
            10.0 * calls,
            "{agent}"
        );
        assert_eq!(
            value(&f, "rectune_llm_tokens_total", &[("agent", agent), ("kind", "completion")]),
            5.0 * calls,
            "{agent}"
        );
    }
    let out = status_cmd(dir.path(), &["--db", "db"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.contains("llm: ") && l.contains("prompt + ") && l.contains("completion tokens")),
        "{text}"
    );

    run.signal("TERM");
    let status = run.wait_exit(WAIT);
    assert!(status.success(), "exit {status:?}: {}", run.stderr());
}

// --- a strict reader of the Prometheus text exposition format (0.0.4) ---

#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: Option<String>,
    samples: Vec<(BTreeMap<String, String>, f64)>,
}

type Families = BTreeMap<String, Family>;

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Label pairs of `{...}` (the braces excluded): `name="value"` separated by commas,
/// values with only `\\`, `\"` and `\n` escaped.
fn parse_labels(mut s: &str, line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    while !s.is_empty() {
        let (name, rest) = s.split_once("=\"").unwrap_or_else(|| panic!("bad label in `{line}`"));
        assert!(is_label_name(name), "bad label name `{name}` in `{line}`");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in `{line}`"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in `{line}`"),
            }
        };
        assert!(out.insert(name.to_string(), value).is_none(), "label {name} twice in `{line}`");
        s = &rest[end + 1..];
        s = s.strip_prefix(',').unwrap_or_else(|| {
            assert!(s.is_empty(), "junk after label in `{line}`");
            s
        });
    }
    out
}

/// Parses the exposition strictly: every sample's family is typed before its first
/// sample, families are contiguous, no series repeats, counters are finite and >= 0.
fn parse_prometheus(text: &str) -> Families {
    let mut families = Families::new();
    let mut current: Option<String> = None;
    let mut series = BTreeSet::new();
    assert!(text.ends_with('\n') || text.is_empty(), "the exposition must end with a newline");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(is_metric_name(name), "bad name in `{line}`");
                    assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "`{line}`");
                    let f = families.entry(name.to_string()).or_default();
                    assert!(f.kind.is_empty() && f.samples.is_empty(), "TYPE of {name} repeated or late");
                    f.kind = kind.to_string();
                }
                (Some("HELP"), Some(name), help) => {
                    assert!(is_metric_name(name), "bad name in `{line}`");
                    let f = families.entry(name.to_string()).or_default();
                    assert!(f.help.replace(help.unwrap_or_default().to_string()).is_none(), "HELP of {name} repeated");
                }
                _ => {}
            }
            continue;
        }
        let (name, labels, rest) = match line.find(['{', ' ']) {
            Some(i) if line[i..].starts_with('{') => {
                let close = line.rfind('}').unwrap_or_else(|| panic!("unclosed labels in `{line}`"));
                (&line[..i], parse_labels(&line[i + 1..close], line), &line[close + 1..])
            }
            Some(i) => (&line[..i], BTreeMap::new(), &line[i..]),
            None => panic!("a sample without a value: `{line}`"),
        };
        assert!(is_metric_name(name), "bad metric name in `{line}`");
        let mut fields = rest.split_whitespace();
        let value = fields.next().and_then(parse_value).unwrap_or_else(|| panic!("bad value in `{line}`"));
        if let Some(ts) = fields.next() {
            assert!(ts.parse::<i64>().is_ok(), "bad timestamp in `{line}`");
        }
        assert!(fields.next().is_none(), "junk after the value in `{line}`");
        let f = families.get_mut(name).unwrap_or_else(|| panic!("{name} sampled before its TYPE"));
        assert!(!f.kind.is_empty(), "{name} has no TYPE");
        if current.as_deref() != Some(name) {
            assert!(f.samples.is_empty(), "samples of {name} are not contiguous");
            current = Some(name.to_string());
        }
        if f.kind == "counter" {
            assert!(value.is_finite() && value >= 0.0, "counter {name} = {value}");
        }
        assert!(series.insert((name.to_string(), labels.clone())), "series repeated: `{line}`");
        f.samples.push((labels, value));
    }
    assert!(families.values().all(|f| !f.kind.is_empty()), "a HELP without a TYPE");
    families
}

#[test]
fn the_reader_refuses_malformed_text() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\n\"} 3\n# TYPE b gauge\nb NaN\n";
    let f = parse_prometheus(ok);
    assert_eq!(f["a_total"].samples[0].0["x"], "q\"\n");
    for bad in [
        "a 1\n",
        "# TYPE a counter\na -1\n",
        "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
        "# TYPE a gauge\na{1x=\"1\"} 1\n",
        "# TYPE a gauge\na one\n",
        "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"\"} 1\n",
    ] {
        assert!(std::panic::catch_unwind(|| parse_prometheus(bad)).is_err(), "accepted: {bad:?}");
    }
}
