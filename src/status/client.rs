//! The client side of the status endpoint: `rectune status`, `approve` and `reject`
//! talk to a running `rectune run` here, and `/status` is rendered for a person.

use serde_json::Value;
use std::time::Duration;

/// Where a running `rectune run` answers, and how it was found (for error messages).
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: String,
    /// `--addr`, the address file of a database, or `status.addr` from the configuration.
    pub found_from: String,
    pub token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no rectune run answers at {addr} (from {found_from}): {reason}; is the run still going? (`rectune status --addr` or `--db` pick another)")]
    Unreachable { addr: String, found_from: String, reason: String },
    #[error("the run answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the run answered something that is not the status endpoint's: {0}")]
    Malformed(String),
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.timeout(Duration::from_secs(30)).send().await.map_err(|e| ClientError::Unreachable {
            addr: self.addr.clone(),
            found_from: self.found_from.clone(),
            reason: e.without_url().to_string(),
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        Err(ClientError::Refused { status, message })
    }

    pub async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let resp = self.send(reqwest::Client::new().get(self.url(path))).await?;
        resp.json().await.map_err(|e| ClientError::Malformed(e.to_string()))
    }

    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let resp = self.send(reqwest::Client::new().get(self.url(path))).await?;
        resp.text().await.map_err(|e| ClientError::Malformed(e.to_string()))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let resp = self.send(reqwest::Client::new().post(self.url(path)).json(body)).await?;
        resp.json().await.map_err(|e| ClientError::Malformed(e.to_string()))
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("-")
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

fn config_line(v: &Value) -> String {
    v.as_object().map_or_else(String::new, |m| {
        m.iter().map(|(k, v)| format!("{k}={}", v.to_string().trim_matches('"'))).collect::<Vec<_>>().join(" ")
    })
}

/// `/status` for a person.
pub fn render(v: &Value) -> String {
    let mut out = Vec::new();
    let run = &v["run"];
    let now = n(v, "now_ms");
    let step = run["step"].as_str().map_or(String::new(), |st| format!(", step {st}"));
    out.push(format!(
        "run {} (task {}): {}, round {} of {}{step}",
        s(run, "run_id"),
        s(run, "task_id"),
        s(run, "state"),
        n(run, "round"),
        n(run, "budget_rounds"),
    ));
    if let Some(why) = run["stop_reason"].as_str() {
        out.push(format!("  stopped: {why}"));
    }
    let inc = &run["incumbent"];
    if inc.is_null() {
        out.push("incumbent: the production baseline (nothing shipped yet)".into());
    } else {
        let lift = &inc["lift_pct"];
        let lift = if lift.is_null() {
            "lift not measured yet".to_string()
        } else {
            let f = |k: &str| lift[k].as_f64().unwrap_or(f64::NAN);
            format!("objective lift {:+.2}% [{:+.2}, {:+.2}] vs the baseline", f("estimate"), f("low"), f("high"))
        };
        out.push(format!(
            "incumbent: {} since round {}, {lift}",
            inc["candidate_id"].as_str().unwrap_or("baseline"),
            n(inc, "since_round")
        ));
        out.push(format!("  config: {}", config_line(&inc["config"])));
    }
    out.push("agents:".into());
    out.push(format!(
        "  {:<8} {:<10} {:>7} {:>9} {:>7} {:>6} {:>8}  {}",
        "agent", "state", "mailbox", "in-flight", "handled", "errors", "restarts", "work / last error"
    ));
    for a in v["agents"].as_array().into_iter().flatten() {
        let work = match &a["current"] {
            Value::Null => "-".to_string(),
            w => {
                let secs = now.saturating_sub(n(w, "since_ms")) / 1000;
                format!("{} round {} ({}, {secs}s)", s(w, "message"), n(w, "round"), s(w, "phase"))
            }
        };
        out.push(format!(
            "  {:<8} {:<10} {:>7} {:>9} {:>7} {:>6} {:>8}  {work}",
            s(a, "name"),
            s(a, "state"),
            n(a, "mailbox_depth"),
            n(a, "in_flight"),
            n(a, "handled"),
            n(a, "errors"),
            n(a, "restarts"),
        ));
        if let Some(e) = a["last_error"].as_str() {
            out.push(format!("  {:<8} last error: {e}", ""));
        }
        let llm = &a["llm"];
        if n(llm, "calls") > 0 {
            out.push(format!(
                "  {:<8} llm: {} calls ({} failed), {} prompt + {} completion tokens, {} ms",
                "",
                n(llm, "calls"),
                n(llm, "failures"),
                n(llm, "prompt_tokens"),
                n(llm, "completion_tokens"),
                n(llm, "latency_ms")
            ));
        }
    }
    out.push(
        "  (mailbox: messages sent and not yet started, counted by rectune; actix exposes no queue length)".into(),
    );
    let c = &v["counters"];
    let rounds = c["rounds"].as_object().map_or_else(String::new, |m| {
        m.iter().map(|(k, v)| format!("{k} {}", v.as_u64().unwrap_or(0))).collect::<Vec<_>>().join(", ")
    });
    out.push(format!(
        "this process: rounds [{}], launches {}, step retries {}",
        if rounds.is_empty() { "none".into() } else { rounds },
        n(c, "launches"),
        n(c, "step_retries")
    ));
    let pending = v["pending_approvals"].as_array().cloned().unwrap_or_default();
    if pending.is_empty() {
        out.push("pending approvals: none".into());
    } else {
        out.push("pending approvals:".into());
        for p in &pending {
            let id = s(p, "id");
            out.push(format!(
                "  {id}  round {}: {} units per arm, key {}",
                n(p, "round"),
                n(p, "units_per_arm"),
                s(p, "key")
            ));
            for arm in p["arms"].as_array().into_iter().flatten() {
                out.push(format!(
                    "    {:<9} {:<9} {:<8} {:>5.1}%  {}",
                    s(arm, "arm_id"),
                    s(arm, "role"),
                    arm["candidate_id"].as_str().unwrap_or("-"),
                    arm["traffic"].as_f64().unwrap_or(0.0) * 100.0,
                    config_line(&arm["config"])
                ));
            }
            out.push(format!("    decide: rectune approve {id}   |   rectune reject {id} --reason \"...\""));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_board_renders_every_agent() {
        let board = agents::board::Board::new(&["actor", "critic", "online", "insight", "skill"]);
        let text = render(&serde_json::to_value(board.snapshot()).unwrap());
        for a in ["actor", "critic", "online", "insight", "skill"] {
            assert!(text.lines().any(|l| l.trim_start().starts_with(a) && l.contains("idle")), "{a}: {text}");
        }
        assert!(text.contains("pending approvals: none"), "{text}");
    }

    #[test]
    fn the_incumbent_is_shown_with_its_measured_lift() {
        let mut snapshot = agents::board::Board::new(&["actor"]).snapshot();
        snapshot.run.incumbent = Some(agents::board::IncumbentView {
            candidate_id: Some("r2-c1".into()),
            config: Default::default(),
            lift_pct: Some(agents::protocol::Interval { estimate: 1.2, low: 0.4, high: 2.0 }),
            since_round: 2,
        });
        let text = render(&serde_json::to_value(&snapshot).unwrap());
        assert!(
            text.contains("incumbent: r2-c1 since round 2, objective lift +1.20% [+0.40, +2.00] vs the baseline"),
            "{text}"
        );
    }
}
