//! The run summary: what was tuned, what shipped, what it measured with intervals, and,
//! on a simulator, the noise-free truth and the share of the baseline-to-optimum gap
//! captured.

use agents::coordinator::{RoundReport, RunOutcome};
use agents::llm::UsageTotals;
use agents::platform::Oracle;
use agents::protocol::{GuardrailStatus, Interval};
use agents::reasoning::{Reasoner, ReasoningTotals};
use serde::Serialize;
use skillhub::{Configuration, TaskSpec};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Where the numbers come from (fresh re-measurements as control avoid the winner's curse).
    pub source: String,
    pub score_pct: Interval,
    pub lifts_pct: BTreeMap<String, Interval>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    pub baseline: BTreeMap<String, f64>,
    pub final_metrics: BTreeMap<String, f64>,
    pub lifts_pct: BTreeMap<String, f64>,
    pub score_pct: f64,
    pub optimum_score_pct: f64,
    pub optimum_config: Configuration,
    /// Every guardrail holds for the final configuration in truth.
    pub final_feasible: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub task_id: String,
    pub rounds_run: usize,
    pub rounds_budget: u32,
    pub stop_reason: String,
    pub experiments: usize,
    pub arms_launched: usize,
    pub candidates_rejected: usize,
    pub baseline: Configuration,
    pub final_config: Configuration,
    pub final_candidate: Option<String>,
    pub shipped_in_round: Option<u32>,
    pub measured: Option<Measured>,
    pub truth: Option<Truth>,
    /// Share of the noise-free baseline-to-optimum gap captured, in [0, 1], when the
    /// platform knows its optimum.
    pub captured_gap: Option<f64>,
    pub restarts: BTreeMap<String, u32>,
    /// Mean narrowing of each metric's intervals by CUPED over the run's experiments, in
    /// % of the unadjusted width (empty when the platform sends no pre-period data).
    pub cuped_narrowing_pct: BTreeMap<String, f64>,
    /// Experiments stopped at an interim look (always-valid intervals), of `experiments`.
    pub early_stops: usize,
    /// Rounds in which the Actor asked for fewer treatments than the budget, each with a
    /// larger share of the round's traffic.
    pub narrow_rounds: usize,
    /// Per agent that thinks with a model: its calls, tokens and time, and how its
    /// questions went (valid, repaired, fallen back). Empty when no agent uses a model.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub llm: BTreeMap<String, LlmReport>,
}

/// One agent's model use over the run (this process's share of it: a resumed run counts
/// from the resume).
#[derive(Debug, Clone, Serialize)]
pub struct LlmReport {
    pub model: String,
    #[serde(flatten)]
    pub usage: UsageTotals,
    #[serde(flatten)]
    pub answers: ReasoningTotals,
}

impl LlmReport {
    pub fn of(r: &Reasoner) -> LlmReport {
        LlmReport { model: r.model(), usage: r.usage(), answers: r.totals() }
    }
}

fn truth(task: &TaskSpec, oracle: &dyn Oracle, final_config: &Configuration) -> (Truth, f64) {
    let baseline = oracle.expected(&task.baseline());
    let final_metrics = oracle.expected(final_config);
    let lifts_pct = skillhub::task::lifts_pct(&final_metrics, &baseline);
    let score_pct = task.score(&lifts_pct);
    let opt = oracle.optimum(task);
    let gap = if opt.score > 1e-9 { (score_pct / opt.score).clamp(0.0, 1.0) } else { 1.0 };
    let final_feasible = task.feasible(&final_metrics, &baseline);
    (
        Truth {
            baseline,
            final_metrics,
            lifts_pct,
            score_pct,
            optimum_score_pct: opt.score,
            optimum_config: opt.config,
            final_feasible,
        },
        gap,
    )
}

pub fn build(
    task: &TaskSpec,
    outcome: &RunOutcome,
    all_rounds: &[RoundReport],
    oracle: Option<&dyn Oracle>,
    restarts: BTreeMap<String, u32>,
) -> RunSummary {
    let insight = outcome.insight.as_deref();
    let final_config = insight.map_or_else(|| task.baseline(), |i| i.incumbent.config.clone());
    let measured = insight.and_then(|i| {
        let inc = &i.incumbent;
        let score = inc.score_vs_baseline?;
        let fresh = i.round.round > inc.since_round;
        let source = if fresh {
            format!("re-measured as control after round {} (free of selection bias)", inc.since_round)
        } else {
            format!("the experiment that selected it (round {}; may overstate: winner's curse)", inc.since_round)
        };
        Some(Measured { source, score_pct: score, lifts_pct: inc.lifts_pct.clone() })
    });
    let (truth, captured_gap) = match oracle {
        Some(o) => {
            let (t, g) = truth(task, o, &final_config);
            (Some(t), Some(g))
        }
        None => (None, None),
    };
    let results = all_rounds.iter().filter_map(|r| r.result.as_ref());
    RunSummary {
        task_id: task.id.clone(),
        rounds_run: all_rounds.len(),
        rounds_budget: task.budget.rounds,
        stop_reason: outcome.stop_reason.clone(),
        experiments: results.clone().count(),
        arms_launched: results.map(|r| r.arms.len()).sum(),
        candidates_rejected: all_rounds.iter().map(|r| r.proposed - r.accepted).sum(),
        baseline: task.baseline(),
        final_config,
        final_candidate: insight.and_then(|i| i.incumbent.candidate_id.clone()),
        shipped_in_round: insight.and_then(|i| i.incumbent.candidate_id.as_ref().map(|_| i.incumbent.since_round)),
        measured,
        truth,
        captured_gap,
        restarts,
        llm: BTreeMap::new(),
        early_stops: all_rounds.iter().filter_map(|r| r.result.as_ref()).filter(|r| r.early_stop.is_some()).count(),
        narrow_rounds: all_rounds.iter().filter(|r| r.narrow.is_some()).count(),
        cuped_narrowing_pct: agents::readout::mean_per_metric(
            all_rounds
                .iter()
                .filter_map(|r| r.result.as_ref())
                .flat_map(|r| r.cuped_narrowing_pct.iter().map(|(m, v)| (m, *v))),
        ),
    }
}

fn pct(i: &Interval) -> String {
    format!("{:+.2}% [{:+.2}, {:+.2}]", i.estimate, i.low, i.high)
}

/// One short line per round for people watching the run.
pub fn progress_line(r: &RoundReport, budget: u32) -> String {
    let head = format!("round {}/{budget}{}", r.round, if r.resumed { " (resumed)" } else { "" });
    let Some(res) = &r.result else {
        return format!("{head} | {}", r.skipped.as_deref().unwrap_or("no experiment"));
    };
    let treatments: Vec<_> = res.arms.iter().filter(|a| !a.vs_control.is_empty()).collect();
    let best = treatments.iter().max_by(|a, b| a.score_vs_control.estimate.total_cmp(&b.score_vs_control.estimate));
    let best = best.map_or("-".into(), |a| {
        format!("{} {} vs control", a.candidate_id.as_deref().unwrap_or(&a.arm_id), pct(&a.score_vs_control))
    });
    let count =
        |s: GuardrailStatus| treatments.iter().flat_map(|a| a.guardrails.iter()).filter(|g| g.status == s).count();
    let incumbent =
        r.insight.as_ref().map_or("-".into(), |i| match (&i.incumbent.candidate_id, &i.incumbent.score_vs_baseline) {
            (Some(id), Some(s)) => format!("{id} {} vs baseline", pct(s)),
            _ => "baseline".into(),
        });
    let mut shipped =
        r.insight.as_ref().and_then(|i| i.shipped.clone()).map_or(String::new(), |s| format!(" | shipped {s}"));
    if let Some(why) = r.insight.as_ref().and_then(|i| i.rolled_back.clone()) {
        shipped.push_str(&format!(" | ROLLED BACK {why}"));
    }
    let applied = r.patches.iter().filter(|p| p.result.is_ok() && !p.duplicate).count();
    let narrow = r.narrow.map_or(String::new(), |k| format!(", narrow round of {k}"));
    format!(
        "{head} | arms {}{narrow} ({} rejected) | best {best} | guardrails {} breached, {} inconclusive | incumbent {incumbent}{shipped} | skill +{applied} patches",
        treatments.len(),
        r.proposed - r.accepted,
        count(GuardrailStatus::Breached),
        count(GuardrailStatus::Inconclusive)
    )
}

/// One line per agent that used a model, then the totals; nothing when none did.
fn render_llm(out: &mut String, llm: &BTreeMap<String, LlmReport>) {
    if llm.is_empty() {
        return;
    }
    let models: std::collections::BTreeSet<&str> = llm.values().map(|r| r.model.as_str()).collect();
    out.push_str(&format!("  {:<22} {}\n", "llm", models.into_iter().collect::<Vec<_>>().join("; ")));
    let mut total =
        LlmReport { model: String::new(), usage: UsageTotals::default(), answers: ReasoningTotals::default() };
    for (agent, r) in llm {
        out.push_str(&format!("  {:<22} {}\n", format!("  {agent}"), llm_line(r)));
        let (u, a) = (&mut total.usage, &mut total.answers);
        u.calls += r.usage.calls;
        u.failures += r.usage.failures;
        u.prompt_tokens += r.usage.prompt_tokens;
        u.completion_tokens += r.usage.completion_tokens;
        u.latency_ms += r.usage.latency_ms;
        a.questions += r.answers.questions;
        a.valid += r.answers.valid;
        a.repairs += r.answers.repairs;
        a.fallbacks += r.answers.fallbacks;
    }
    out.push_str(&format!("  {:<22} {}\n", "  total", llm_line(&total)));
}

fn llm_line(r: &LlmReport) -> String {
    let (u, a) = (&r.usage, &r.answers);
    format!(
        "{} questions: {} valid, {} repaired, {} fell back to built-in | {} calls ({} failed), {} prompt + {} completion tokens, {:.1} s",
        a.questions,
        a.valid,
        a.repairs,
        a.fallbacks,
        u.calls,
        u.failures,
        u.prompt_tokens,
        u.completion_tokens,
        u.latency_ms as f64 / 1000.0
    )
}

fn config_line(c: &Configuration) -> String {
    c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("  ")
}

/// The human-readable summary table.
pub fn render(s: &RunSummary) -> String {
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {k:<22} {v}\n"));
    out.push_str(&format!("\n== rectune summary: {} ==\n", s.task_id));
    line(&mut out, "rounds", format!("{} of {} ({})", s.rounds_run, s.rounds_budget, s.stop_reason));
    line(
        &mut out,
        "experiments / arms",
        format!(
            "{} / {} ({} candidates rejected by the Critic; {} stopped early; {} narrow rounds)",
            s.experiments, s.arms_launched, s.candidates_rejected, s.early_stops, s.narrow_rounds
        ),
    );
    line(&mut out, "baseline", config_line(&s.baseline));
    let shipped = s.final_candidate.as_ref().map_or("(baseline kept: no significant, safe winner)".into(), |c| {
        format!("({c}, shipped in round {})", s.shipped_in_round.unwrap_or(0))
    });
    line(&mut out, "final", format!("{} {shipped}", config_line(&s.final_config)));
    if let Some(m) = &s.measured {
        line(&mut out, "measured objective", format!("{} vs baseline, {}", pct(&m.score_pct), m.source));
        for (metric, i) in &m.lifts_pct {
            line(&mut out, &format!("  {metric}"), pct(i));
        }
    }
    if let Some(t) = &s.truth {
        line(&mut out, "true objective", format!("{:+.2}% (optimum {:+.2}%)", t.score_pct, t.optimum_score_pct));
        for (metric, l) in &t.lifts_pct {
            line(&mut out, &format!("  {metric} (true)"), format!("{l:+.2}%"));
        }
        line(&mut out, "guardrails in truth", if t.final_feasible { "all hold".into() } else { "BREACHED".into() });
    }
    if let Some(g) = s.captured_gap {
        line(&mut out, "captured gap", format!("{:.0}% of the baseline-to-optimum gap", g * 100.0));
    }
    if !s.cuped_narrowing_pct.is_empty() {
        let each: Vec<String> = s.cuped_narrowing_pct.iter().map(|(m, n)| format!("{m} {n:.0}%")).collect();
        line(&mut out, "CUPED narrowed", format!("intervals by {} (pre-period adjustment)", each.join(", ")));
    }
    render_llm(&mut out, &s.llm);
    let restarts: u32 = s.restarts.values().sum();
    if restarts > 0 {
        line(&mut out, "agent restarts", format!("{:?}", s.restarts));
    }
    out
}
