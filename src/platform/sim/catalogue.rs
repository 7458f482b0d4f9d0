//! The simulator's parameter and metric catalogues, and the typed configuration the
//! cascade reads. Defaults are the production configuration.

use agents::platform::{MetricInfo, MetricKind, ParamInfo};
use skillhub::{Configuration, ParamKind, ParamSpec, Value};

fn float(name: &str, min: f64, max: f64, default: f64, description: &str) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        kind: ParamKind::Float { min, max },
        baseline: Value::Num(default),
        description: description.into(),
    }
}

fn int(name: &str, min: i64, max: i64, default: i64, description: &str) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        kind: ParamKind::Int { min, max },
        baseline: Value::Num(default as f64),
        description: description.into(),
    }
}

fn choice(name: &str, values: &[&str], default: &str, description: &str) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        kind: ParamKind::Choice { values: values.iter().map(|v| v.to_string()).collect() },
        baseline: Value::Str(default.into()),
        description: description.into(),
    }
}

/// Every parameter the simulator accepts, with its production value as baseline.
pub fn param_specs() -> Vec<ParamSpec> {
    vec![
        float(
            "prerank.w_ctr",
            0.0,
            3.0,
            1.0,
            "Pre-rank weight of the light model's click score (normalised so the average candidate scores 1).",
        ),
        float(
            "prerank.w_dwell",
            0.0,
            3.0,
            0.5,
            "Pre-rank weight of the light model's long-dwell score (normalised so the average candidate scores 1).",
        ),
        float(
            "prerank.w_fresh",
            0.0,
            2.0,
            0.2,
            "Pre-rank weight of item freshness (decays over a few days; normalised so the average candidate scores 1).",
        ),
        int(
            "prerank.top_k",
            50,
            400,
            200,
            "How many of the ~900 candidates the pre-ranker passes to the ranking model; serving latency grows with it.",
        ),
        choice(
            "rank.formula",
            &["additive", "multiplicative"],
            "additive",
            "How the ranking model's heads are fused: additive sum_i w_i p_i, or multiplicative prod_i (b + p_i)^w_i expressed on the additive scale.",
        ),
        float(
            "rank.w_click",
            0.0,
            3.0,
            1.0,
            "Rank weight of the predicted click probability.",
        ),
        float(
            "rank.w_dwell",
            0.0,
            3.0,
            1.0,
            "Rank weight of the predicted long-dwell probability (click followed by a long view).",
        ),
        float(
            "rank.w_like",
            0.0,
            3.0,
            0.3,
            "Rank weight of the predicted like probability (a rare, noisy head).",
        ),
        float(
            "rank.w_dismiss",
            0.0,
            3.0,
            0.5,
            "Rank penalty on the predicted dismiss probability.",
        ),
        int(
            "rank.top_k",
            10,
            100,
            40,
            "How many ranked items the re-ranker chooses the 10-item slate from; serving latency grows with it.",
        ),
        choice(
            "rerank.policy",
            &["none", "mmr", "window"],
            "mmr",
            "Slate construction: none (greedy by score), mmr (maximal marginal relevance plus the window penalty), window (greedy with the sliding-window category penalty).",
        ),
        float(
            "rerank.mmr_lambda",
            0.0,
            1.0,
            0.8,
            "MMR trade-off: 1 = pure relevance, 0 = pure dissimilarity to the items already in the slate.",
        ),
        float(
            "rerank.window_penalty",
            0.0,
            1.0,
            0.2,
            "Score penalty, per repeat, for an item whose category already appears among the last 3 slate items.",
        ),
        int(
            "rerank.category_cap",
            1,
            10,
            4,
            "Maximum number of items of one category in the slate; to respect it the re-ranker reaches past rank.top_k into the ranked list.",
        ),
        float(
            "rerank.freshness_boost",
            0.0,
            1.0,
            0.1,
            "Score added per unit of freshness in the re-ranker.",
        ),
        float(
            "rerank.dismiss_demotion",
            0.0,
            1.0,
            0.0,
            "Re-rank demotion of dismiss-prone items: subtracts this times twice the predicted dismiss probability.",
        ),
    ]
}

/// The catalogue in the platform contract's form (`GET /v1/parameters`).
pub fn param_infos() -> Vec<ParamInfo> {
    param_specs().into_iter().map(|p| ParamInfo { name: p.name, kind: p.kind, default: p.baseline }).collect()
}

/// The production configuration: every parameter at its default.
pub fn defaults() -> Configuration {
    param_specs().into_iter().map(|p| (p.name, p.baseline)).collect()
}

/// Metric names, in the order reads report them.
pub const METRICS: [&str; 7] = ["impressions", "clicks", "dwell_s", "sessions", "categories", "latency_ms", "ctr"];

/// The metrics every arm reports (`GET /v1/metrics`).
pub fn metric_infos() -> Vec<MetricInfo> {
    let mean = |name: &str, higher: bool, description: &str| MetricInfo {
        name: name.into(),
        kind: MetricKind::Mean,
        higher_is_better: higher,
        description: description.into(),
    };
    vec![
        mean("impressions", true, "items shown to the user in the period"),
        mean("clicks", true, "items the user clicked in the period"),
        mean("dwell_s", true, "seconds the user spent on clicked items in the period"),
        mean("sessions", true, "return sessions in the period after the first exposure (DAU proxy)"),
        mean("categories", true, "distinct item categories the user saw in the period"),
        mean("latency_ms", false, "the user's mean serving latency per feed request"),
        MetricInfo {
            name: "ctr".into(),
            kind: MetricKind::Ratio,
            higher_is_better: true,
            description: "clicks / impressions (per-user sums, for the delta method)".into(),
        },
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    Additive,
    Multiplicative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    None,
    Mmr,
    Window,
}

/// A configuration parsed once into the numbers the cascade reads.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub pre_w_ctr: f64,
    pub pre_w_dwell: f64,
    pub pre_w_fresh: f64,
    pub pre_top_k: usize,
    pub formula: Formula,
    pub w_click: f64,
    pub w_dwell: f64,
    pub w_like: f64,
    pub w_dismiss: f64,
    pub rank_top_k: usize,
    pub policy: Policy,
    pub mmr_lambda: f64,
    pub window_penalty: f64,
    pub category_cap: usize,
    pub freshness_boost: f64,
    pub dismiss_demotion: f64,
}

/// One problem with one configuration key; `field` is the parameter name.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::lenient(&Configuration::new())
    }
}

impl SimConfig {
    /// Parses a configuration strictly: unknown keys and out-of-domain values are
    /// problems, missing keys take the defaults.
    pub fn parse(cfg: &Configuration) -> Result<SimConfig, Vec<FieldProblem>> {
        let specs = param_specs();
        let mut problems = Vec::new();
        for (key, value) in cfg {
            match specs.iter().find(|p| &p.name == key) {
                None => problems.push(FieldProblem {
                    field: key.clone(),
                    problem: format!(
                        "unknown parameter (known: {})",
                        specs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                }),
                Some(spec) => {
                    if let Err(skillhub::SpaceError::Invalid { problem, .. }) = spec.check(value) {
                        problems.push(FieldProblem { field: key.clone(), problem });
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(Self::lenient(cfg))
        } else {
            Err(problems)
        }
    }

    /// Reads a configuration forgivingly, for the oracle: unknown keys are ignored,
    /// numbers are clamped into their bounds, anything unreadable takes the default.
    pub fn lenient(cfg: &Configuration) -> SimConfig {
        let specs = param_specs();
        let num = |name: &str| -> f64 {
            let Some(spec) = specs.iter().find(|p| p.name == name) else { return 0.0 };
            let default = spec.baseline.as_f64().unwrap_or(0.0);
            let v = cfg.get(name).and_then(Value::as_f64).filter(|x| x.is_finite()).unwrap_or(default);
            match spec.kind {
                ParamKind::Float { min, max } => v.clamp(min, max),
                ParamKind::Int { min, max } => v.round().clamp(min as f64, max as f64),
                _ => default,
            }
        };
        let text = |name: &str| -> String {
            let Some(spec) = specs.iter().find(|p| p.name == name) else { return String::new() };
            let default = spec.baseline.as_str().unwrap_or_default().to_string();
            match (&spec.kind, cfg.get(name).and_then(Value::as_str)) {
                (ParamKind::Choice { values }, Some(s)) if values.iter().any(|v| v == s) => s.to_string(),
                _ => default,
            }
        };
        SimConfig {
            pre_w_ctr: num("prerank.w_ctr"),
            pre_w_dwell: num("prerank.w_dwell"),
            pre_w_fresh: num("prerank.w_fresh"),
            pre_top_k: num("prerank.top_k") as usize,
            formula: match text("rank.formula").as_str() {
                "multiplicative" => Formula::Multiplicative,
                _ => Formula::Additive,
            },
            w_click: num("rank.w_click"),
            w_dwell: num("rank.w_dwell"),
            w_like: num("rank.w_like"),
            w_dismiss: num("rank.w_dismiss"),
            rank_top_k: num("rank.top_k") as usize,
            policy: match text("rerank.policy").as_str() {
                "none" => Policy::None,
                "window" => Policy::Window,
                _ => Policy::Mmr,
            },
            mmr_lambda: num("rerank.mmr_lambda"),
            window_penalty: num("rerank.window_penalty"),
            category_cap: num("rerank.category_cap") as usize,
            freshness_boost: num("rerank.freshness_boost"),
            dismiss_demotion: num("rerank.dismiss_demotion"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_inside_its_own_bounds() {
        for p in param_specs() {
            p.validate().unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(param_specs().len(), 16);
    }

    #[test]
    fn strict_parse_names_each_bad_key() {
        let cfg: Configuration = [
            ("rank.w_click".to_string(), Value::Num(5.0)),
            ("rank.w_clik".to_string(), Value::Num(1.0)),
            ("rerank.policy".to_string(), Value::Str("greedy".into())),
        ]
        .into_iter()
        .collect();
        let problems = SimConfig::parse(&cfg).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["rank.w_click", "rank.w_clik", "rerank.policy"]);
        assert!(problems[0].problem.contains("outside [0, 3]"), "{:?}", problems[0]);
    }

    #[test]
    fn lenient_parse_clamps_and_defaults() {
        let cfg: Configuration = [
            ("prerank.top_k".to_string(), Value::Num(1e9)),
            ("rank.formula".to_string(), Value::Str("multiplicative".into())),
            ("nonsense".to_string(), Value::Bool(true)),
        ]
        .into_iter()
        .collect();
        let c = SimConfig::lenient(&cfg);
        assert_eq!(c.pre_top_k, 400);
        assert_eq!(c.formula, Formula::Multiplicative);
        assert_eq!(c.rank_top_k, 40);
        assert_eq!(SimConfig::default().policy, Policy::Mmr);
    }
}
