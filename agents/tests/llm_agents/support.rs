//! What the agent-level model tests share: a small fusion task with a guardrail and an
//! invariant, a mock model server speaking either wire format and answering from a
//! script, and builders for the messages the agents receive.

use agents::agent::AgentHandle;
use agents::llm::{client_with, Backend, CallStats, LlmSettings, RetryPolicy};
use agents::protocol::{
    ArmResult, ExperimentResult, GuardrailStatus, GuardrailVerdict, Interval, MetricEstimate, RoundRef,
};
use agents::reasoning::config::placeholders_of;
use agents::reasoning::{Prompt, Reasoner};
use serde_json::{json, Value as Json};
use skillhub::{
    Budget, Configuration, Direction, Guardrail, Invariant, Limit, Objective, ParamKind, ParamSpec, TaskSpec, Value,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const MODEL: &str = "mock-model";
pub const BACKENDS: [Backend; 2] = [Backend::OpenAi, Backend::Gemini];

/// `prerank.top_k` in [50, 1000], two fusion weights in [0, 1] whose sum may not pass 1.2,
/// maximise dwell with ctr allowed to drop at most 0.5%, two arms per round.
pub fn task() -> Arc<TaskSpec> {
    let float = |name: &str, baseline: f64| ParamSpec {
        name: name.into(),
        kind: ParamKind::Float { min: 0.0, max: 1.0 },
        baseline: Value::Num(baseline),
        description: String::new(),
    };
    let top_k = ParamSpec {
        name: "prerank.top_k".into(),
        kind: ParamKind::Int { min: 50, max: 1000 },
        baseline: Value::Num(200.0),
        description: "candidates kept by pre-ranking".into(),
    };
    let invariant = Invariant {
        description: "fusion weights stay comparable".into(),
        terms: BTreeMap::from([("rank.w_click".into(), 1.0), ("rank.w_dwell".into(), 1.0)]),
        min: None,
        max: Some(1.2),
    };
    Arc::new(TaskSpec {
        id: "fusion".into(),
        context: "rank fusion".into(),
        params: vec![top_k, float("rank.w_click", 0.5), float("rank.w_dwell", 0.5)],
        objectives: vec![Objective { metric: "dwell".into(), direction: Direction::Maximize, weight: 1.0 }],
        guardrails: vec![Guardrail { metric: "ctr".into(), limit: Limit::MaxDropPct(0.5) }],
        invariants: vec![invariant],
        budget: Budget { rounds: 4, arms_per_round: 2, units_per_arm: 1000 },
    })
}

pub fn config(top_k: f64, w_click: f64, w_dwell: f64) -> Configuration {
    Configuration::from([
        ("prerank.top_k".into(), Value::Num(top_k)),
        ("rank.w_click".into(), Value::Num(w_click)),
        ("rank.w_dwell".into(), Value::Num(w_dwell)),
    ])
}

pub fn config_json(top_k: f64, w_click: f64, w_dwell: f64) -> Json {
    json!({"prerank.top_k": top_k, "rank.w_click": w_click, "rank.w_dwell": w_dwell})
}

pub fn round(n: u32) -> RoundRef {
    RoundRef { task_id: task().id.clone(), round: n }
}

pub fn handle(name: &str) -> AgentHandle {
    AgentHandle { stats: Arc::new(agents::agent::AgentStats::named(name)), ..AgentHandle::default() }
}

/// A mock model server for one wire format.
pub struct MockModel {
    pub server: MockServer,
    pub backend: Backend,
}

impl MockModel {
    pub async fn start(backend: Backend) -> Self {
        MockModel { server: MockServer::start().await, backend }
    }

    fn endpoint(&self) -> String {
        match self.backend {
            Backend::OpenAi => "/v1/chat/completions".into(),
            Backend::Gemini => format!("/v1beta/models/{MODEL}:generateContent"),
        }
    }

    /// `text` as the model's answer; `cut_off` ends it at the token limit.
    fn reply(&self, text: &str, cut_off: bool) -> ResponseTemplate {
        let body = match self.backend {
            Backend::OpenAi => json!({
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": if cut_off { "length" } else { "stop" }}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20},
            }),
            Backend::Gemini => json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "finishReason": if cut_off { "MAX_TOKENS" } else { "STOP" }}],
                "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20},
            }),
        };
        ResponseTemplate::new(200).set_body_json(body)
    }

    /// The model answers with `answers`, one per request, in order; a request after the
    /// last one gets no mock and fails the call (so a test sees unexpected questions).
    pub async fn answers(&self, answers: &[Json]) {
        let texts: Vec<(String, bool)> = answers.iter().map(|a| (a.to_string(), false)).collect();
        self.texts(&texts).await;
    }

    /// Like [`MockModel::answers`] with raw texts, each possibly cut off at the token limit.
    pub async fn texts(&self, texts: &[(String, bool)]) {
        for (text, cut_off) in texts {
            Mock::given(method("POST"))
                .and(path(self.endpoint()))
                .respond_with(self.reply(text, *cut_off))
                .up_to_n_times(1)
                .mount(&self.server)
                .await;
        }
    }

    /// The body of every request, as sent.
    pub async fn bodies(&self) -> Vec<Json> {
        let requests = self.server.received_requests().await.expect("recording is on");
        requests.iter().map(|r| r.body_json().expect("the client sends JSON")).collect()
    }

    /// `agent`'s reasoner talking to this server, with the embedded prompt and no retries
    /// (every answer the script holds is one request).
    pub fn reasoner(&self, agent: &'static str) -> Reasoner {
        let settings = LlmSettings {
            backend: self.backend,
            base_url: self.server.uri(),
            model: MODEL.into(),
            max_retries: 0,
            ..LlmSettings::default()
        };
        let policy = RetryPolicy { attempt_timeout: Duration::from_secs(10), ..RetryPolicy::from_settings(&settings) };
        let key = Some(agents::llm::Secret::new("test-key"));
        let client = client_with(&settings, key, policy).expect("test settings are valid");
        let prompt = Prompt::load(agent, None, "test", placeholders_of(agent)).expect("embedded prompt");
        Reasoner::new(agent, client, prompt, CallStats::new())
    }

    /// The system and user text of every request, in order, read from the wire body.
    pub async fn questions(&self) -> Vec<(String, String)> {
        self.bodies()
            .await
            .into_iter()
            .map(|body| {
                let text = |v: &Json| v.as_str().expect("text field").to_string();
                match self.backend {
                    Backend::OpenAi => (text(&body["messages"][0]["content"]), text(&body["messages"][1]["content"])),
                    Backend::Gemini => (
                        text(&body["systemInstruction"]["parts"][0]["text"]),
                        text(&body["contents"][0]["parts"][0]["text"]),
                    ),
                }
            })
            .collect()
    }
}

/// The text of the `<data name="...">` block called `name` in `prompt`.
pub fn data_block<'p>(prompt: &'p str, name: &str) -> &'p str {
    let open = format!("<data name=\"{name}\">");
    let start = prompt.find(&open).unwrap_or_else(|| panic!("no {open} in {prompt}")) + open.len();
    let len = prompt[start..].find("</data>").unwrap_or_else(|| panic!("{open} is not closed in {prompt}"));
    &prompt[start..start + len]
}

fn interval(estimate: f64, se: f64) -> Interval {
    Interval { estimate, low: estimate - 1.96 * se, high: estimate + 1.96 * se }
}

fn estimate(metric: &str, lift: f64, se: f64) -> MetricEstimate {
    MetricEstimate {
        metric: metric.into(),
        mean: 1.0 + lift / 100.0,
        reference_mean: 1.0,
        lift_pct: interval(lift, se),
        std_err_pct: se,
        p_value: 0.01,
        cuped_narrowing_pct: None,
    }
}

/// A treatment arm that lifts dwell by `dwell` % (se 0.2) and keeps ctr.
pub fn arm(id: &str, cfg: Configuration, dwell: f64) -> ArmResult {
    let reads = vec![estimate("dwell", dwell, 0.2), estimate("ctr", 0.0, 0.1)];
    ArmResult {
        arm_id: id.into(),
        candidate_id: Some(id.into()),
        config: cfg,
        units: 1000,
        vs_control: reads.clone(),
        vs_baseline: reads,
        score_vs_control: interval(dwell, 0.2),
        score_vs_baseline: interval(dwell, 0.2),
        score_se_vs_control: 0.2,
        score_se_vs_baseline: 0.2,
        score_p_vs_control: 0.01,
        guardrails: vec![GuardrailVerdict {
            metric: "ctr".into(),
            rule: "ctr >= baseline - 0.5%".into(),
            status: GuardrailStatus::Holds,
            reason: "inside its limit".into(),
        }],
        shippable: dwell > 0.5,
    }
}

pub fn experiment(round_no: u32, arms: Vec<ArmResult>) -> ExperimentResult {
    ExperimentResult {
        round: round(round_no),
        experiment_id: format!("exp-{round_no}"),
        idempotency_key: format!("key-{round_no}"),
        control: task().baseline(),
        units_per_arm: 1000,
        srm_p_value: 0.5,
        arms,
        confidence: 0.95,
        cv: BTreeMap::new(),
        blocked: None,
        cuped_narrowing_pct: BTreeMap::new(),
        early_stop: None,
        notes: Vec::new(),
    }
}

const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/llm_agents/snapshots");
const UPDATE: &str = "RECTUNE_UPDATE_SNAPSHOTS";

/// `body` equals the snapshot `name` (pretty JSON under tests/llm_agents/snapshots/).
/// With `RECTUNE_UPDATE_SNAPSHOTS=1` the snapshot is written instead; review the diff.
pub fn assert_snapshot(name: &str, body: &Json) {
    let file = std::path::Path::new(SNAPSHOTS).join(format!("{name}.json"));
    let shown = serde_json::to_string_pretty(body).expect("a JSON value prints") + "\n";
    if std::env::var(UPDATE).is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(SNAPSHOTS).expect("snapshot directory");
        std::fs::write(&file, &shown).expect("snapshot written");
        return;
    }
    let stored = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}; run with {UPDATE}=1 to write it", file.display()));
    assert!(
        stored == shown,
        "{name}: the request changed; if on purpose, run with {UPDATE}=1 and review the diff.\nnow:\n{shown}"
    );
}
