//! The Online agent: turns a verdict into an A/B experiment on the platform, sizes it,
//! launches it exactly once (journaled idempotency key), monitors it and reads it.

use crate::agent::{AgentError, AgentHandle};
use crate::approval::{self, ApprovalMode, ApprovalRequest};
use crate::journal::{Journal, Step};
use crate::monitor;
use crate::platform::{ArmSpec, ExperimentRead, LaunchRequest, Platform, PlatformError};
use crate::protocol::{ExperimentResult, Note, Verdict};
use crate::readout::{readout, ArmPlan, ReadoutInput, Role};
use crate::reasoning::online::{builtin_notes, facts, schema_context, to_notes, validate, vars, OnlineAnswer};
use crate::reasoning::{ask_validated, Outcome, Reasoner};
use crate::retry::RetryPolicy;
use crate::stats;
use crate::strategy::width::{treatments_text, RoundShape};
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use skillhub::{Configuration, TaskSpec};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, info_span, warn, Instrument};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnlineSettings {
    /// Two-sided confidence of every interval; the ship rule's family-wise level is 1 - this.
    pub confidence: f64,
    /// Smallest relative effect on the first objective worth detecting, in %.
    pub mde_pct: f64,
    pub power: f64,
    pub poll_interval_ms: u64,
    /// Longest an experiment may run before the round fails.
    pub timeout_s: u64,
    /// Launch attempts on an unavailable platform before giving up.
    pub launch_attempts: u32,
    /// Interim looks with always-valid intervals before the planned end (0: none); an
    /// experiment stops early for a clear winner or when every treatment is harmful.
    pub interim_looks: u32,
    /// `auto` launches at once; `manual` journals the launch request and waits for
    /// `rectune approve ID` (or `reject`) before the platform sees it.
    pub approval: ApprovalMode,
}

impl Default for OnlineSettings {
    fn default() -> Self {
        Self {
            confidence: 0.95,
            mde_pct: 0.5,
            power: 0.8,
            poll_interval_ms: 25,
            timeout_s: 600,
            launch_attempts: 5,
            interim_looks: 4,
            approval: ApprovalMode::Auto,
        }
    }
}

/// Coordinator → Online: run the round's experiment.
#[derive(Message, Clone)]
#[rtype(result = "Result<ExperimentResult, AgentError>")]
pub struct RunExperiment {
    pub run_id: String,
    pub task: Arc<TaskSpec>,
    pub verdict: Verdict,
    pub control: Configuration,
    pub control_id: Option<String>,
    /// Per-metric coefficients of variation from the previous experiment, for sizing.
    pub cv: BTreeMap<String, f64>,
    pub seed: u64,
}

/// What is journaled before the platform sees a launch, so a restart re-sends it as is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub key: String,
    pub plan: Vec<ArmPlan>,
    pub request: LaunchRequest,
    pub sizing: String,
}

pub struct OnlineAgent {
    platform: Arc<dyn Platform>,
    journal: Journal,
    settings: OnlineSettings,
    handle: AgentHandle,
    /// The model that words the readout, in `llm` mode; sizing, launching and the
    /// statistics never depend on it.
    reasoner: Option<Reasoner>,
}

impl OnlineAgent {
    pub fn new(platform: Arc<dyn Platform>, journal: Journal, settings: OnlineSettings, handle: AgentHandle) -> Self {
        Self { platform, journal, settings, handle, reasoner: None }
    }

    pub fn with_reasoner(mut self, reasoner: Option<Reasoner>) -> Self {
        self.reasoner = reasoner;
        self
    }
}

impl Actor for OnlineAgent {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        info!(
            agent = "online",
            confidence = self.settings.confidence,
            mde_pct = self.settings.mde_pct,
            "agent started"
        );
    }
}

impl Supervised for OnlineAgent {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.handle.stats.restarted();
        info!(agent = "online", "agent restarting; launches resume from the journal");
    }
}

/// Units per arm: what the power calculation asks for, capped by the round's traffic
/// budget shared among the arms actually launched (fewer treatments, more units each:
/// `strategy::width`).
fn size(task: &TaskSpec, cv: &BTreeMap<String, f64>, s: &OnlineSettings, shape: (usize, usize)) -> (u64, String) {
    let (treatments, comparison) = shape;
    let cap = RoundShape::of(&task.budget, comparison).units_per_arm(treatments);
    let metric = &task.objectives[0].metric;
    let width = treatments_text(treatments);
    let Some(c) = cv.get(metric) else {
        return (cap, format!("{cap} units per arm: budget cap for {width} (no variance of {metric} measured yet)"));
    };
    let alpha = (1.0 - s.confidence) / treatments.max(1) as f64;
    match stats::units_per_arm(*c, s.mde_pct / 100.0, alpha, s.power) {
        Ok(n) if n < cap => {
            let n = n.max(cap / 10);
            (
                n,
                format!(
                    "{n} units per arm: power {:.0}% for a {:.2}% effect on {metric} (cv {c:.2}) needs no more",
                    s.power * 100.0,
                    s.mde_pct
                ),
            )
        }
        Ok(n) => (
            cap,
            format!(
                "{cap} units per arm: budget cap for {width} (detecting {:.2}% on {metric} at power {:.0}% would need {n})",
                s.mde_pct,
                s.power * 100.0
            ),
        ),
        Err(e) => (cap, format!("{cap} units per arm: budget cap for {width} (power calculation failed: {e})")),
    }
}

/// Relative guardrails whose margin is tighter than a read of `units` per arm can show
/// (no drop at all would still be "inconclusive"): such a task will rarely ship.
fn unprovable_guardrails(
    task: &TaskSpec,
    cv: &BTreeMap<String, f64>,
    s: &OnlineSettings,
    units: u64,
    treatments: usize,
) -> Vec<String> {
    let alpha = (1.0 - s.confidence) / treatments.max(1) as f64;
    let Ok(z) = stats::normal_quantile(1.0 - alpha) else { return Vec::new() };
    task.guardrails
        .iter()
        .filter_map(|g| {
            let margin = match g.limit {
                skillhub::Limit::MaxDropPct(p) | skillhub::Limit::MaxRisePct(p) => p,
                _ => return None,
            };
            let shown = z * cv.get(&g.metric)? * (2.0 / units.max(1) as f64).sqrt() * 100.0;
            (shown > margin).then(|| {
                format!("{}: a read of {units} units per arm can only show margins above {shown:.2}%; raise units_per_arm or loosen the margin", g.describe())
            })
        })
        .collect()
}

fn plan(msg: &RunExperiment, settings: &OnlineSettings) -> Result<LaunchRecord, AgentError> {
    let baseline = msg.task.baseline();
    let mut plan = vec![ArmPlan {
        arm_id: "control".into(),
        role: Role::Control,
        candidate_id: msg.control_id.clone(),
        config: msg.control.clone(),
        traffic: 0.0,
    }];
    if msg.control != baseline {
        // Guardrails are limits against production: keep production in the experiment.
        plan.push(ArmPlan {
            arm_id: "baseline".into(),
            role: Role::Baseline,
            candidate_id: None,
            config: baseline,
            traffic: 0.0,
        });
    }
    for (i, c) in msg.verdict.accepted().enumerate() {
        plan.push(ArmPlan {
            arm_id: format!("t{}", i + 1),
            role: Role::Treatment,
            candidate_id: Some(c.id.clone()),
            config: c.config.clone(),
            traffic: 0.0,
        });
    }
    // Counted by role: the production baseline arm is not a treatment.
    let tested = plan.iter().filter(|a| a.role == Role::Treatment).count();
    if tested == 0 {
        return Err(AgentError::Invalid("the verdict accepted no candidate: nothing to test".into()));
    }
    let share = (10_000.0 / plan.len() as f64).floor() / 10_000.0;
    plan.iter_mut().for_each(|a| a.traffic = share);
    let (units, sizing) = size(&msg.task, &msg.cv, settings, (tested, plan.len() - tested));
    for warning in unprovable_guardrails(&msg.task, &msg.cv, settings, units, tested) {
        warn!(%warning, "guardrail margin below what the experiment can show");
    }
    let request = LaunchRequest {
        name: format!("{}/round-{}", msg.task.id, msg.verdict.round.round),
        control_arm: "control".into(),
        arms: plan
            .iter()
            .map(|a| ArmSpec { arm_id: a.arm_id.clone(), traffic: a.traffic, config: a.config.clone() })
            .collect(),
        units_per_arm: units,
        seed: Some(msg.seed),
    };
    let key = format!("{}/{}/round-{}", msg.run_id, msg.task.id, msg.verdict.round.round);
    Ok(LaunchRecord { key, plan, request, sizing })
}

/// Launches with the journaled key; an unavailable platform is retried with the same
/// key, so a launch whose answer was lost returns the original experiment.
async fn launch(platform: &Arc<dyn Platform>, rec: &LaunchRecord, attempts: u32) -> Result<String, AgentError> {
    let policy = RetryPolicy::new(attempts, Duration::ZERO);
    let mut attempt = 1;
    loop {
        match platform.launch(rec.key.clone(), rec.request.clone()).await {
            Ok(l) => return Ok(l.experiment_id),
            Err(PlatformError::Unavailable(why)) if attempt < policy.max_attempts => {
                warn!(attempt, %why, "platform unavailable; retrying the launch with the same idempotency key");
                actix::clock::sleep(policy.jittered(attempt - 1, None)).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// What an interim look needs besides the read.
struct Watch<'a> {
    msg: &'a RunExperiment,
    rec: &'a LaunchRecord,
    settings: &'a OnlineSettings,
}

impl Watch<'_> {
    fn result(&self, experiment_id: &str, read: &ExperimentRead) -> Result<ExperimentResult, AgentError> {
        readout(&ReadoutInput {
            task: &self.msg.task,
            round: self.msg.verdict.round.clone(),
            experiment_id: experiment_id.to_string(),
            key: self.rec.key.clone(),
            units_per_arm: self.rec.request.units_per_arm,
            read,
            plan: &self.rec.plan,
            confidence: self.settings.confidence,
        })
        .map_err(AgentError::Invalid)
    }

    /// The sequences are tuned to be tightest at the planned total units of a comparison.
    fn tuning_n(&self) -> f64 {
        2.0 * self.rec.request.units_per_arm as f64
    }

    /// Whether this partial read is a due interim look that calls for a stop.
    fn should_stop(&self, id: &str, read: &ExperimentRead, looks_done: &mut u32) -> Option<String> {
        let looks = self.settings.interim_looks;
        let due = (read.progress * f64::from(looks + 1)).floor() as u32;
        if looks == 0 || due <= *looks_done || *looks_done >= looks {
            return None;
        }
        *looks_done = due.min(looks);
        let result = self.result(id, read).ok()?;
        let look = monitor::look(&self.msg.task, &result, self.tuning_n());
        info!(experiment = %id, progress = read.progress, winners = ?look.winners, harmful = ?look.harmful, "interim look");
        look.stop_reason()
    }
}

async fn wait(platform: &Arc<dyn Platform>, id: &str, w: &Watch<'_>) -> Result<ExperimentRead, AgentError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(w.settings.timeout_s);
    let mut looks_done = 0;
    loop {
        match platform.read(id.to_string()).await {
            Ok(r) if r.status.is_final() => return Ok(r),
            Ok(r) => {
                if let Some(reason) = w.should_stop(id, &r, &mut looks_done) {
                    info!(experiment = %id, %reason, progress = r.progress, "stopping the experiment early");
                    return Ok(platform.stop(id.to_string()).await?);
                }
            }
            // A read changes nothing on the platform: a bad one is retried until the deadline.
            Err(e @ (PlatformError::Unavailable(_) | PlatformError::Protocol(_))) => {
                warn!(experiment = %id, error = %e, "read failed; polling again");
            }
            Err(e) => return Err(e.into()),
        }
        if std::time::Instant::now() > deadline {
            let _ = platform.stop(id.to_string()).await;
            return Err(AgentError::Timeout(id.to_string()));
        }
        actix::clock::sleep(Duration::from_millis(w.settings.poll_interval_ms)).await;
    }
}

/// After an early stop only what the always-valid intervals proved may ship; judged on
/// the final read, so a restart after the stop reaches the same verdict.
fn restrict_after_stop(w: &Watch<'_>, result: &mut ExperimentResult) {
    let look = monitor::look(&w.msg.task, result, w.tuning_n());
    for arm in result.arms.iter_mut().filter(|a| a.shippable && !look.winners.contains(&a.arm_id)) {
        info!(arm = %arm.arm_id, "not shippable: stopped early and not a proven winner");
        arm.shippable = false;
    }
    result.early_stop = Some(look.stop_reason().unwrap_or_else(|| "stopped before the planned units".into()));
}

/// The human gate: in manual mode, waits for a person's decision on a prepared launch
/// (journaled, so one made before a restart counts); a rejection ends the step.
async fn gate(
    journal: &Journal,
    handle: &AgentHandle,
    rec: &LaunchRecord,
    round: u32,
    task_id: &str,
) -> Result<(), AgentError> {
    let req = ApprovalRequest::new(
        task_id,
        round,
        &rec.key,
        &rec.request.name,
        &rec.plan,
        rec.request.units_per_arm,
        &rec.sizing,
    );
    let id = req.id.clone();
    info!(
        approval = %id,
        arms = rec.plan.len(),
        units_per_arm = rec.request.units_per_arm,
        "experiment prepared, awaiting approval: `rectune approve {id}` or `rectune reject {id} --reason ...`"
    );
    let d = approval::wait(&handle.board, journal, req, &handle.stats).await?;
    let reason = d.reason.clone().unwrap_or_else(|| "no reason given".into());
    if d.approved {
        info!(approval = %id, by = %d.by, %reason, "launch approved");
        Ok(())
    } else {
        info!(approval = %id, by = %d.by, %reason, "launch rejected; the experiment is not launched");
        Err(AgentError::Rejected { id, by: d.by, reason })
    }
}

/// The readout in words: the model's notes when its answer is valid, the built-in wording
/// of each arm otherwise.
async fn readout_notes(r: &Reasoner, task: &TaskSpec, result: &ExperimentResult) -> Vec<Note> {
    let facts = facts(result);
    if facts.is_empty() {
        info!(reason = "no treatment arm was read", "model not asked for the readout");
        return Vec::new();
    }
    let request = r.request::<OnlineAnswer>(&vars(task, result, &facts), &schema_context(&facts));
    let (owned, known) = (result.clone(), facts.clone());
    match ask_validated(r, request, move |a: &OnlineAnswer| validate(&owned, &known, a)).await {
        Outcome::Valid(a) => to_notes(a, &r.model()),
        Outcome::Fallback(_) => builtin_notes(&facts),
    }
}

async fn run(
    platform: Arc<dyn Platform>,
    journal: Journal,
    s: OnlineSettings,
    msg: RunExperiment,
    handle: AgentHandle,
    reasoner: Option<Reasoner>,
) -> Result<ExperimentResult, AgentError> {
    let (task_id, round) = (msg.task.id.clone(), msg.verdict.round.round);
    let rec = match journal.get::<LaunchRecord>(&task_id, round, Step::Launch)? {
        Some(rec) => {
            info!(key = %rec.key, "resuming a journaled launch with its idempotency key");
            rec
        }
        None => {
            let rec = plan(&msg, &s)?;
            journal.put(&task_id, round, Step::Launch, &rec).await?;
            rec
        }
    };
    let launched = journal.get::<String>(&task_id, round, Step::Launched)?.is_some();
    // A journaled decision binds a run restarted with `approval = "auto"` too: a rejected
    // experiment never launches.
    let decided = journal.get::<approval::ApprovalDecision>(&task_id, round, Step::Approval)?.is_some();
    if !launched && (s.approval == ApprovalMode::Manual || decided) {
        gate(&journal, &handle, &rec, round, &task_id).await?;
    }
    info!(key = %rec.key, arms = rec.plan.len(), sizing = %rec.sizing, "launching experiment");
    let experiment_id = launch(&platform, &rec, s.launch_attempts).await?;
    handle.board.count_launch();
    journal.put(&task_id, round, Step::Launched, &experiment_id).await?;
    let watch = Watch { msg: &msg, rec: &rec, settings: &s };
    let read = wait(&platform, &experiment_id, &watch).await?;
    if read.status == crate::platform::ExperimentStatus::Failed {
        return Err(AgentError::Invalid(format!(
            "experiment {experiment_id} failed: {}",
            read.error.unwrap_or_default()
        )));
    }
    let mut result = watch.result(&experiment_id, &read)?;
    if read.status == crate::platform::ExperimentStatus::Stopped {
        restrict_after_stop(&watch, &mut result);
    }
    if let Some(r) = &reasoner {
        result.notes = readout_notes(r, &msg.task, &result).await;
    }
    log_result(&result);
    Ok(result)
}

fn log_result(r: &ExperimentResult) {
    if !r.cuped_narrowing_pct.is_empty() {
        info!(experiment = %r.experiment_id, narrowing_pct = ?r.cuped_narrowing_pct, "CUPED narrowed the intervals");
    }
    if let Some(why) = &r.early_stop {
        info!(experiment = %r.experiment_id, reason = %why, "experiment stopped early");
    }
    if let Some(why) = &r.blocked {
        warn!(experiment = %r.experiment_id, reason = %why, "experiment blocked");
    }
    for n in &r.notes {
        info!(experiment = %r.experiment_id, arm = %n.fact, author = %n.author, note = %n.text, "readout note");
    }
    for a in r.arms.iter().filter(|a| !a.vs_control.is_empty()) {
        let s = a.score_vs_control;
        info!(
            experiment = %r.experiment_id,
            arm = %a.arm_id,
            candidate = a.candidate_id.as_deref().unwrap_or("-"),
            objective_vs_control = format!("{:+.2}% [{:+.2}, {:+.2}]", s.estimate, s.low, s.high),
            shippable = a.shippable,
            guardrails = %a.guardrails.iter().map(|g| g.reason.clone()).collect::<Vec<_>>().join("; "),
            "arm read"
        );
    }
}

impl Handler<RunExperiment> for OnlineAgent {
    type Result = ResponseActFuture<Self, Result<ExperimentResult, AgentError>>;

    fn handle(&mut self, msg: RunExperiment, ctx: &mut Context<Self>) -> Self::Result {
        let span = info_span!("message", agent = "online", kind = "RunExperiment", round = %msg.verdict.round);
        if let Some(e) = self.handle.crash(msg.verdict.round.round, "online", "RunExperiment", &span, ctx) {
            return Box::pin(fut::ready(Err(e)));
        }
        let (platform, journal, settings) = (self.platform.clone(), self.journal.clone(), self.settings.clone());
        let work = run(platform, journal, settings, msg, self.handle.clone(), self.reasoner.clone()).instrument(span);
        Box::pin(fut::wrap_future(work))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skillhub::{Budget, Direction, Guardrail, Limit, Objective};

    fn task(margin: f64) -> TaskSpec {
        TaskSpec {
            id: "t".into(),
            context: String::new(),
            params: vec![],
            objectives: vec![Objective { metric: "sessions".into(), direction: Direction::Maximize, weight: 1.0 }],
            guardrails: vec![Guardrail { metric: "dwell_s".into(), limit: Limit::MaxDropPct(margin) }],
            invariants: vec![],
            budget: Budget { rounds: 1, arms_per_round: 4, units_per_arm: 40_000 },
        }
    }

    fn run_experiment(accepted: &[&str], control: Configuration) -> RunExperiment {
        let task = crate::fixtures::task(&["a"], vec![]);
        let decisions = ["c1", "c2", "c3"]
            .iter()
            .enumerate()
            .map(|(i, id)| crate::protocol::Decision {
                candidate: crate::protocol::Candidate {
                    id: id.to_string(),
                    config: Configuration::from([("a".to_string(), skillhub::Value::Num(0.1 * (i + 1) as f64))]),
                    hypothesis: String::new(),
                    origin: crate::protocol::Origin::Optimizer,
                },
                accepted: accepted.contains(id),
                reason: String::new(),
            })
            .collect();
        RunExperiment {
            run_id: "run".into(),
            task: Arc::new(task.clone()),
            verdict: Verdict { round: crate::protocol::RoundRef { task_id: "t".into(), round: 2 }, decisions },
            control,
            control_id: None,
            cv: BTreeMap::new(),
            seed: 1,
        }
    }

    #[test]
    fn a_launch_gives_the_round_s_traffic_to_the_arms_it_tests() {
        let s = OnlineSettings::default();
        let shipped = Configuration::from([("a".to_string(), skillhub::Value::Num(0.9))]);
        // The fixture pays for 2 treatments x 1000 units; after a ship the baseline arm
        // joins the control: 4 arms' traffic.
        let rec = plan(&run_experiment(&["c1", "c2"], shipped.clone()), &s).expect("two treatments");
        assert_eq!((rec.plan.len(), rec.request.units_per_arm), (4, 1000));
        let rec = plan(&run_experiment(&["c2"], shipped.clone()), &s).expect("one treatment");
        assert_eq!((rec.plan.len(), rec.request.units_per_arm), (3, 1333));
        assert!(rec.sizing.contains("budget cap for 1 treatment ("), "{}", rec.sizing);
        // A verdict that kept nothing launches nothing, even with the baseline arm there.
        assert!(plan(&run_experiment(&[], shipped), &s).is_err());
        assert!(plan(&run_experiment(&[], Configuration::from([("a".to_string(), skillhub::Value::Num(0.5))])), &s)
            .is_err());
    }

    #[test]
    fn sizing_uses_the_power_calculation_and_caps_at_the_budget() {
        let s = OnlineSettings::default();
        let (units, why) = size(&task(1.0), &BTreeMap::new(), &s, (4, 1));
        assert_eq!(units, 40_000);
        assert!(why.contains("no variance"), "{why}");
        let (units, why) = size(&task(1.0), &BTreeMap::from([("sessions".into(), 0.6)]), &s, (4, 1));
        assert_eq!(units, 40_000, "{why}");
        assert!(why.contains("would need"), "{why}");
        // One treatment gets the round's whole traffic: 5 x 40 000 over 2 arms.
        let (units, why) = size(&task(1.0), &BTreeMap::from([("sessions".into(), 0.6)]), &s, (1, 1));
        assert_eq!(units, 100_000, "{why}");
        assert!(why.contains("budget cap for 1 treatment ("), "{why}");
        let lenient = OnlineSettings { mde_pct: 5.0, ..OnlineSettings::default() };
        let (units, why) = size(&task(1.0), &BTreeMap::from([("sessions".into(), 0.6)]), &lenient, (1, 1));
        assert!(units < 40_000 && why.contains("needs no more"), "{units}: {why}");
    }

    #[test]
    fn a_guardrail_margin_the_experiment_cannot_show_is_flagged() {
        let s = OnlineSettings::default();
        let cv = BTreeMap::from([("dwell_s".into(), 1.06)]);
        // z(0.9875) * 1.06 * sqrt(2 / 40000) = 0.017 -> 1.68%
        assert_eq!(unprovable_guardrails(&task(0.5), &cv, &s, 40_000, 4).len(), 1);
        assert!(unprovable_guardrails(&task(2.0), &cv, &s, 40_000, 4).is_empty());
    }
}
