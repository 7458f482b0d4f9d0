//! Conformance of a server to the experiment platform contract
//! (`design/experiment-platform.md`). By default it starts `rectune platform serve`;
//! set `RECTUNE_CONFORMANCE_URL` to check another server instead (the tests then use
//! its own parameter catalogue to build valid launches).

mod common;

use common::PlatformServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Target {
    url: String,
    _server: Option<PlatformServer>,
    _dir: Option<tempfile::TempDir>,
}

fn target(extra: &[&str]) -> Target {
    if let (Ok(url), true) = (std::env::var("RECTUNE_CONFORMANCE_URL"), extra.is_empty()) {
        return Target { url: url.trim_end_matches('/').to_string(), _server: None, _dir: None };
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = PlatformServer::start(dir.path(), extra);
    Target { url: server.url.clone(), _server: Some(server), _dir: Some(dir) }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

async fn get(url: &str) -> (StatusCode, Value) {
    let r = http().get(url).send().await.expect("GET");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(url: &str, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut req = http().post(url).json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("POST");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The contract's error shape, with a message that contains `needle`.
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, needle: &str) {
    assert_eq!(status, expected, "{body}");
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!code.is_empty(), "error.code missing: {body}");
    assert!(message.contains(needle), "error.message should mention `{needle}`: {body}");
}

/// A parameter from the platform's catalogue to vary, with a value inside its range and
/// one outside.
async fn knob(url: &str) -> (String, Value, Value) {
    let (status, body) = get(&format!("{url}/v1/parameters")).await;
    assert_eq!(status, StatusCode::OK, "this suite needs a parameter catalogue: {body}");
    let p = body["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["type"] == "float"))
        .expect("a float parameter")
        .clone();
    let (min, max) = (p["min"].as_f64().expect("min"), p["max"].as_f64().expect("max"));
    (p["name"].as_str().expect("name").to_string(), json!((min + max) / 2.0), json!(max + 1.0))
}

async fn launch_body(url: &str, units: u64, seed: u64) -> Value {
    let (name, inside, _) = knob(url).await;
    json!({
        "name": "conformance/round-1",
        "control_arm": "control",
        "arms": [
            {"arm_id": "control", "traffic": 0.25, "config": {}},
            {"arm_id": "t1", "traffic": 0.25, "config": {name: inside}}
        ],
        "units_per_arm": units,
        "seed": seed
    })
}

fn unique_key(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("conformance-{tag}-{nanos}")
}

async fn poll_until_final(url: &str, id: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(&format!("{url}/v1/experiments/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["status"] != "running" || Instant::now() > end {
            return body;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check_arm_sums(arm: &Value) {
    let units = arm["units"].as_u64().expect("units");
    for (metric, m) in arm["metrics"].as_object().expect("metrics") {
        assert_eq!(m["n"].as_u64(), Some(units), "{metric}: n equals the arm's units");
        match m["kind"].as_str() {
            Some("mean") => {
                let (sum, sq) = (m["sum"].as_f64().expect("sum"), m["sum_sq"].as_f64().expect("sum_sq"));
                // Cauchy-Schwarz: (sum x)^2 <= n * sum x^2.
                assert!(sum * sum <= units as f64 * sq * (1.0 + 1e-9) + 1e-9, "{metric}: {m}");
            }
            Some("ratio") => {
                for part in ["num", "den"] {
                    assert!(m[part]["sum"].is_number() && m[part]["sum_sq"].is_number(), "{metric}.{part}: {m}");
                }
                assert!(m["sum_product"].is_number(), "{metric}: {m}");
            }
            other => panic!("{metric}: unknown kind {other:?}"),
        }
    }
}

#[actix_rt::test]
async fn catalogues_describe_metrics_and_parameters() {
    let t = target(&[]);
    let (status, body) = get(&format!("{}/v1/metrics", t.url)).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = body["metrics"].as_array().expect("metrics array");
    assert!(!metrics.is_empty());
    for m in metrics {
        assert!(m["name"].is_string() && m["higher_is_better"].is_boolean(), "{m}");
        assert!(matches!(m["kind"].as_str(), Some("mean" | "ratio")), "{m}");
    }
    let (status, body) = get(&format!("{}/v1/parameters", t.url)).await;
    if status == StatusCode::NOT_FOUND {
        return; // optional in the contract
    }
    for p in body["parameters"].as_array().expect("parameters array") {
        assert!(p["name"].is_string() && !p["default"].is_null(), "{p}");
        match p["type"].as_str() {
            Some("float" | "int") => assert!(p["min"].as_f64() <= p["max"].as_f64(), "{p}"),
            Some("choice") => assert!(p["values"].as_array().is_some_and(|v| !v.is_empty()), "{p}"),
            other => panic!("unknown parameter type {other:?}: {p}"),
        }
    }
}

#[actix_rt::test]
async fn bad_launches_are_400s_naming_the_field() {
    let t = target(&[]);
    let url = format!("{}/v1/experiments", t.url);
    let good = launch_body(&t.url, 1000, 1).await;
    let (s, b) = post(&url, None, &good).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "Idempotency-Key");

    let mut wrong_type = good.clone();
    wrong_type["arms"][0]["traffic"] = json!("a quarter");
    let (s, b) = post(&url, Some(&unique_key("type")), &wrong_type).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "arms[0].traffic");

    let mut unknown = good.clone();
    unknown["arms"][1]["config"]["no.such.knob"] = json!(1.0);
    let (s, b) = post(&url, Some(&unique_key("unknown")), &unknown).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "no.such.knob");

    let (name, _, outside) = knob(&t.url).await;
    let mut out_of_range = good.clone();
    out_of_range["arms"][1]["config"][&name] = outside;
    let (s, b) = post(&url, Some(&unique_key("range")), &out_of_range).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, &name);

    let mut too_much = good.clone();
    too_much["arms"][0]["traffic"] = json!(0.9);
    let (s, b) = post(&url, Some(&unique_key("traffic")), &too_much).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "traffic");

    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("units_per_arm");
    let (s, b) = post(&url, Some(&unique_key("missing")), &missing).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "units_per_arm");
}

#[actix_rt::test]
async fn launch_is_idempotent_by_key_and_a_changed_body_conflicts() {
    let t = target(&[]);
    let url = format!("{}/v1/experiments", t.url);
    let body = launch_body(&t.url, 2000, 5).await;
    let key = unique_key("idem");
    let (s1, first) = post(&url, Some(&key), &body).await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    assert!(first["experiment_id"].is_string());
    assert!(matches!(first["status"].as_str(), Some("running" | "completed")), "{first}");
    let (s2, again) = post(&url, Some(&key), &body).await;
    assert_eq!(s2, StatusCode::OK, "{again}");
    assert_eq!(again["experiment_id"], first["experiment_id"]);
    let mut changed = body.clone();
    changed["units_per_arm"] = json!(3000);
    let (s3, b3) = post(&url, Some(&key), &changed).await;
    assert_error(s3, &b3, StatusCode::CONFLICT, &key);
    let (s4, other) = post(&url, Some(&unique_key("other")), &body).await;
    assert_eq!(s4, StatusCode::CREATED);
    assert_ne!(other["experiment_id"], first["experiment_id"]);
}

#[actix_rt::test]
async fn an_experiment_completes_with_consistent_sums() {
    let t = target(&[]);
    let (s, launched) =
        post(&format!("{}/v1/experiments", t.url), Some(&unique_key("done")), &launch_body(&t.url, 3000, 9).await)
            .await;
    assert_eq!(s, StatusCode::CREATED, "{launched}");
    let id = launched["experiment_id"].as_str().expect("id").to_string();
    let done = poll_until_final(&t.url, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["experiment_id"], json!(id));
    assert!((done["progress"].as_f64().unwrap_or(0.0) - 1.0).abs() < 1e-9, "{done}");
    let arms = done["arms"].as_array().expect("arms");
    let ids: Vec<&str> = arms.iter().filter_map(|a| a["arm_id"].as_str()).collect();
    assert_eq!(ids, ["control", "t1"]);
    for arm in arms {
        assert_eq!(arm["units"].as_u64(), Some(3000));
        check_arm_sums(arm);
    }
}

#[actix_rt::test]
async fn partial_reads_while_running_then_stop_freezes_the_sums() {
    // Paced so that the experiment is still running when read.
    let t = target(&["--pace-ms", "20"]);
    let (s, launched) =
        post(&format!("{}/v1/experiments", t.url), Some(&unique_key("stop")), &launch_body(&t.url, 400_000, 3).await)
            .await;
    assert_eq!(s, StatusCode::CREATED, "{launched}");
    let id = launched["experiment_id"].as_str().expect("id").to_string();
    let read_url = format!("{}/v1/experiments/{id}", t.url);
    let end = Instant::now() + Duration::from_secs(30);
    let partial = loop {
        let (s, body) = get(&read_url).await;
        assert_eq!(s, StatusCode::OK);
        if body["progress"].as_f64().unwrap_or(0.0) > 0.0 || Instant::now() > end {
            break body;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(partial["status"], "running", "{partial}");
    let progress = partial["progress"].as_f64().expect("progress");
    assert!(progress > 0.0 && progress < 1.0, "{progress}");
    partial["arms"].as_array().expect("arms").iter().for_each(check_arm_sums);

    let stop_url = format!("{read_url}/stop");
    let (s, stopped) = post(&stop_url, None, &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["status"], "stopped");
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    let (_, later) = get(&read_url).await;
    assert_eq!(later["arms"], stopped["arms"], "no units arrive after a stop");
    let (s, again) = post(&stop_url, None, &json!({})).await;
    assert_eq!((s, &again["status"]), (StatusCode::OK, &json!("stopped")));
}

#[actix_rt::test]
async fn unknown_experiments_and_routes_are_404s() {
    let t = target(&[]);
    let (s, b) = get(&format!("{}/v1/experiments/exp-does-not-exist", t.url)).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "exp-does-not-exist");
    let (s, b) = post(&format!("{}/v1/experiments/exp-does-not-exist/stop", t.url), None, &json!({})).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "exp-does-not-exist");
}

#[actix_rt::test]
async fn a_token_protected_server_refuses_requests_without_it() {
    std::env::set_var("RECTUNE_CONFORMANCE_TOKEN", "conformance-secret");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = PlatformServer::start(dir.path(), &["--token-env", "RECTUNE_CONFORMANCE_TOKEN"]);
    let (s, b) = get(&format!("{}/v1/metrics", server.url)).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "Authorization");
    let r = http().get(format!("{}/v1/metrics", server.url)).bearer_auth("wrong").send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r =
        http().get(format!("{}/v1/metrics", server.url)).bearer_auth("conformance-secret").send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
}
