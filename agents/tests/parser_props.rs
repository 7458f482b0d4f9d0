//! Property tests of what the agents parse from the outside: the platform's answers
//! (read and launch bodies, and the catalogues a task is checked against) and the
//! language models' answers (OpenAI and Gemini bodies, the schema check, the agents'
//! answer validation). Arbitrary input gives a value or an error, never a panic; valid
//! input round-trips.

use agents::llm::{check_schema, parse_gemini_body, parse_openai_body, LlmError, Usage};
use agents::platform::http::{parse_launch, parse_read};
use agents::platform::{
    check_task, ArmRead, ExperimentRead, ExperimentStatus, Launched, MetricData, MetricInfo, MetricKind, ParamInfo,
    Platform, PlatformError, PreSums, Sums,
};
use agents::protocol::{Candidate, Origin};
use agents::reasoning::actor::{self, ActorAnswer, ProposedConfig};
use agents::reasoning::critic::{self, CriticAnswer, Judgement};
use agents::reasoning::{self as reasoning, AnswerSchema};
use futures::future::{BoxFuture, FutureExt};
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use skillhub::{ParamKind, TaskSpec, Value};

/// Any JSON value, a few levels deep, with the awkward corners: huge and negative
/// numbers, unicode, empty containers.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|x| json!(x)),
        any::<u64>().prop_map(|x| json!(x)),
        prop::num::f64::NORMAL.prop_map(|x| json!(x)),
        ".{0,12}".prop_map(Json::String),
        prop_oneof![Just("type"), Just("minItems"), Just("integer"), Just("object"), Just("STOP"), Just("stop")]
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z_]{1,8}",
                    Just("type".to_string()),
                    Just("properties".to_string()),
                    Just("items".to_string()),
                    Just("required".to_string()),
                    Just("enum".to_string()),
                    Just("minimum".to_string()),
                    Just("maxLength".to_string()),
                    Just("additionalProperties".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// Bytes that are sometimes JSON, sometimes nearly JSON, sometimes noise.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        any_json().prop_map(|v| v.to_string().into_bytes()),
        (any_json(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let mut b = v.to_string().into_bytes();
            b.truncate(cut.index(b.len() + 1));
            b
        }),
    ]
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![-1e12..1e12f64, Just(0.0), prop::num::f64::NORMAL]
}

fn metric_data() -> impl Strategy<Value = MetricData> {
    let pre = prop::option::of((finite(), finite(), finite()).prop_map(|(sum, sum_sq, sum_product)| PreSums {
        sum,
        sum_sq,
        sum_product,
    }));
    let mean = (any::<u64>(), finite(), finite(), pre).prop_map(|(n, sum, sum_sq, pre)| MetricData::Mean {
        n,
        sum,
        sum_sq,
        pre,
    });
    let ratio = (any::<u64>(), finite(), finite(), finite(), finite(), finite()).prop_map(|(n, a, b, c, d, e)| {
        MetricData::Ratio { n, num: Sums { sum: a, sum_sq: b }, den: Sums { sum: c, sum_sq: d }, sum_product: e }
    });
    prop_oneof![mean, ratio]
}

fn status() -> impl Strategy<Value = ExperimentStatus> {
    prop_oneof![
        Just(ExperimentStatus::Running),
        Just(ExperimentStatus::Completed),
        Just(ExperimentStatus::Stopped),
        Just(ExperimentStatus::Failed),
    ]
}

fn experiment_read() -> impl Strategy<Value = ExperimentRead> {
    let arm = ("[a-z0-9-]{1,8}", any::<u64>(), prop::collection::btree_map("[a-z_]{1,8}", metric_data(), 0..4))
        .prop_map(|(arm_id, units, metrics)| ArmRead { arm_id, units, metrics });
    (".{1,20}", status(), 0.0..=1.0f64, prop::collection::vec(arm, 0..4), prop::option::of(".{0,20}")).prop_map(
        |(experiment_id, status, progress, arms, error)| ExperimentRead {
            experiment_id,
            status,
            progress,
            arms,
            error,
        },
    )
}

/// A task like the built-in ones: a choice and a few bounded numbers, no invariant.
fn task() -> TaskSpec {
    serde_json::from_value(json!({
        "id": "props",
        "params": [
            {"name": "rank.formula", "type": "choice", "values": ["additive", "multiplicative"], "baseline": "additive"},
            {"name": "rank.w_click", "type": "float", "min": 0.0, "max": 3.0, "baseline": 1.0},
            {"name": "rank.top_k", "type": "int", "min": 10, "max": 100, "baseline": 40},
            {"name": "rerank.on", "type": "bool", "baseline": true}
        ],
        "objectives": [{"metric": "sessions", "direction": "maximize"}],
        "guardrails": [{"metric": "ctr", "max_drop_pct": 3.0}],
        "budget": {"rounds": 3, "arms_per_round": 4, "units_per_arm": 1000}
    }))
    .expect("task")
}

/// A platform whose catalogues are whatever the test says.
struct Catalogue {
    metrics: Vec<MetricInfo>,
    params: Option<Vec<ParamInfo>>,
}

impl Platform for Catalogue {
    fn launch(
        &self,
        _: String,
        _: agents::platform::LaunchRequest,
    ) -> BoxFuture<'static, Result<Launched, PlatformError>> {
        futures::future::ready(Err(PlatformError::Unavailable("not here".into()))).boxed()
    }
    fn read(&self, _: String) -> BoxFuture<'static, Result<ExperimentRead, PlatformError>> {
        futures::future::ready(Err(PlatformError::Unavailable("not here".into()))).boxed()
    }
    fn stop(&self, _: String) -> BoxFuture<'static, Result<ExperimentRead, PlatformError>> {
        futures::future::ready(Err(PlatformError::Unavailable("not here".into()))).boxed()
    }
    fn metrics(&self) -> BoxFuture<'static, Result<Vec<MetricInfo>, PlatformError>> {
        futures::future::ready(Ok(self.metrics.clone())).boxed()
    }
    fn parameters(&self) -> BoxFuture<'static, Result<Option<Vec<ParamInfo>>, PlatformError>> {
        futures::future::ready(Ok(self.params.clone())).boxed()
    }
}

fn param_kind() -> impl Strategy<Value = ParamKind> {
    let f = prop_oneof![any::<f64>(), -10.0..10.0f64];
    prop_oneof![
        (f.clone(), f).prop_map(|(min, max)| ParamKind::Float { min, max }),
        (any::<i64>(), any::<i64>()).prop_map(|(min, max)| ParamKind::Int { min, max }),
        prop::collection::vec(prop_oneof![Just("additive".to_string()), "[a-z]{1,6}"], 0..3)
            .prop_map(|values| ParamKind::Choice { values }),
        Just(ParamKind::Bool),
    ]
}

fn param_info() -> impl Strategy<Value = ParamInfo> {
    let name =
        prop_oneof![Just("rank.formula"), Just("rank.w_click"), Just("rank.top_k"), Just("rerank.on"), Just("x")];
    let default = prop_oneof![any::<f64>().prop_map(Value::Num), any::<bool>().prop_map(Value::Bool)];
    (name, param_kind(), default).prop_map(|(name, kind, default)| ParamInfo { name: name.into(), kind, default })
}

fn metric_info() -> impl Strategy<Value = MetricInfo> {
    (prop_oneof![Just("sessions".to_string()), Just("ctr".to_string()), "[a-z]{1,6}"], any::<bool>(), any::<bool>())
        .prop_map(|(name, ratio, higher_is_better)| MetricInfo {
            name,
            kind: if ratio { MetricKind::Ratio } else { MetricKind::Mean },
            higher_is_better,
            description: String::new(),
        })
}

fn openai_body(content: &str, finish: &str, usage: Option<(u64, u64)>) -> Vec<u8> {
    let mut body =
        json!({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish}]});
    if let Some((p, c)) = usage {
        body["usage"] = json!({"prompt_tokens": p, "completion_tokens": c});
    }
    body.to_string().into_bytes()
}

fn gemini_body(text: &str, usage: Option<(u64, u64, u64)>) -> Vec<u8> {
    let mut body = json!({"candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}]});
    if let Some((p, c, t)) = usage {
        body["usageMetadata"] = json!({"promptTokenCount": p, "candidatesTokenCount": c, "thoughtsTokenCount": t});
    }
    body.to_string().into_bytes()
}

fn non_empty_container() -> impl Strategy<Value = Json> {
    any_json().prop_filter("a JSON answer is an object or array", |v| v.is_object() || v.is_array())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn platform_answers_never_panic(status in prop_oneof![0..1000u16, Just(200), Just(201), Just(409), Just(404)], body in any_body()) {
        let _ = parse_read(status, &body);
        let _ = parse_launch(status, &body);
    }

    #[test]
    fn contract_bodies_round_trip(read in experiment_read(), id in ".{1,20}", st in status()) {
        let body = serde_json::to_vec(&read).expect("serialise");
        prop_assert_eq!(parse_read(200, &body).expect("a contract body parses"), read);
        let launched = Launched { experiment_id: id, status: st };
        let body = serde_json::to_vec(&launched).expect("serialise");
        prop_assert_eq!(parse_launch(201, &body).expect("a contract body parses"), launched);
    }

    #[test]
    fn error_statuses_are_errors_whatever_the_body(status in 400..600u16, body in any_body()) {
        prop_assert!(parse_read(status, &body).is_err());
        match parse_launch(status, &body) {
            Err(PlatformError::KeyConflict(_)) => prop_assert_eq!(status, 409),
            Err(_) => {}
            Ok(l) => prop_assert!(false, "{status} gave {l:?}"),
        }
    }

    #[test]
    fn any_catalogue_checks_a_task_without_panicking(
        metrics in prop::collection::vec(metric_info(), 0..4),
        params in prop::option::of(prop::collection::vec(param_info(), 0..6)),
    ) {
        let _ = futures::executor::block_on(check_task(&task(), &Catalogue { metrics, params }));
    }

    #[test]
    fn llm_bodies_never_panic(body in any_body()) {
        let _ = parse_openai_body(&body);
        let _ = parse_gemini_body(&body);
    }

    #[test]
    fn llm_usage_and_text_never_panic(
        text in prop_oneof![".{0,30}", any_json().prop_map(|v| v.to_string()), any_json().prop_map(|v| format!("```json\n{v}\n```"))],
        finish in prop_oneof![Just("stop".to_string()), Just("length".to_string()), ".{0,6}"],
        usage in prop::option::of((any::<u64>(), any::<u64>(), any::<u64>())),
    ) {
        let _ = parse_openai_body(&openai_body(&text, &finish, usage.map(|(p, c, _)| (p, c))));
        if let Ok(a) = parse_gemini_body(&gemini_body(&text, usage)) {
            let total = a.usage + Usage { prompt_tokens: u64::MAX, completion_tokens: u64::MAX };
            prop_assert!(total.prompt_tokens >= a.usage.prompt_tokens);
        }
    }

    #[test]
    fn llm_answers_round_trip(answer in non_empty_container(), fenced in any::<bool>(), p in 0..1_000_000u64, c in 0..1_000_000u64) {
        let text = if fenced { format!("```json\n{answer}\n```") } else { answer.to_string() };
        let a = parse_openai_body(&openai_body(&text, "stop", Some((p, c)))).expect("a valid chat completion");
        prop_assert_eq!(&a.json, &answer);
        prop_assert_eq!(a.usage, Usage { prompt_tokens: p, completion_tokens: c });
        let g = parse_gemini_body(&gemini_body(&text, Some((p, c, 0)))).expect("a valid generateContent answer");
        prop_assert_eq!(&g.json, &answer);
        prop_assert_eq!(g.usage, Usage { prompt_tokens: p, completion_tokens: c });
        let finish_length = parse_openai_body(&openai_body(&text, "length", None));
        prop_assert!(matches!(finish_length, Err(LlmError::Truncated { .. })), "{:?}", finish_length);
    }

    #[test]
    fn the_schema_check_never_panics(value in any_json(), schema in any_json()) {
        let _ = check_schema(&value, &schema);
    }

    #[test]
    fn agent_answers_are_validated_without_panicking(answer in any_json(), n in 0..6usize) {
        let task = task();
        let schema = ActorAnswer::schema(&actor::schema_context(&task, n));
        let _ = reasoning::check::<ActorAnswer, _>(&answer, &schema, &|a: &ActorAnswer| actor::validate(&task, n, a));
        let candidates: Vec<Candidate> = (0..n).map(|i| Candidate {
            id: format!("r1-c{i}"), config: task.baseline(), hypothesis: "h".into(), origin: Origin::Llm,
        }).collect();
        let shown: Vec<&Candidate> = candidates.iter().collect();
        let schema = CriticAnswer::schema(&critic::schema_context(&shown));
        let _ = reasoning::check::<CriticAnswer, _>(&answer, &schema, &|a: &CriticAnswer| critic::validate(&shown, a));
    }

    #[test]
    fn valid_agent_answers_pass_every_check_unchanged(
        units in prop::collection::vec(prop::collection::vec(0.0..=1.0f64, 4), 1..5),
        hypotheses in prop::collection::vec("[a-zA-Z][a-zA-Z ]{0,40}", 5),
        accept in prop::collection::vec(any::<bool>(), 5),
    ) {
        let task = task();
        let space = task.space();
        let mut candidates: Vec<ProposedConfig> = Vec::new();
        for (i, u) in units.iter().enumerate() {
            let config = space.from_unit(u);
            if candidates.iter().all(|c| c.config != config) {
                candidates.push(ProposedConfig { hypothesis: hypotheses[i].clone(), config });
            }
        }
        let n = candidates.len();
        let answer = ActorAnswer { candidates };
        let json = serde_json::to_value(&answer).expect("serialise");
        let schema = ActorAnswer::schema(&actor::schema_context(&task, n));
        let checked = reasoning::check::<ActorAnswer, _>(&json, &schema, &|a: &ActorAnswer| actor::validate(&task, n, a));
        prop_assert_eq!(checked, Ok(answer.clone()));

        let shown: Vec<Candidate> = answer.candidates.iter().enumerate().map(|(i, c)| Candidate {
            id: format!("r1-c{i}"), config: c.config.clone(), hypothesis: c.hypothesis.clone(), origin: Origin::Llm,
        }).collect();
        let shown: Vec<&Candidate> = shown.iter().collect();
        // A valid verdict chooses at least one of the candidates (all passed the checks).
        let mut accept = accept;
        if accept[..n].iter().all(|a| !a) {
            accept[n - 1] = true;
        }
        let verdict = CriticAnswer { decisions: shown.iter().enumerate().map(|(i, c)| Judgement {
            candidate_id: c.id.clone(), accept: accept[i], reason: hypotheses[i].clone(),
        }).collect() };
        let json = serde_json::to_value(&verdict).expect("serialise");
        let schema = CriticAnswer::schema(&critic::schema_context(&shown));
        let checked = reasoning::check::<CriticAnswer, _>(&json, &schema, &|a: &CriticAnswer| critic::validate(&shown, a));
        prop_assert_eq!(checked, Ok(verdict));
    }
}
