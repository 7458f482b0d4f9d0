//! The coordinator drives rounds: Actor → Critic → Online → Insight → Skill, journaling
//! each step's output before taking the next, so a restarted run skips what is done
//! and redoes only the step that was interrupted (idempotently).

use crate::actor::Propose;
use crate::agent::AgentError;
use crate::critic::Review;
use crate::insight::Analyse;
use crate::journal::{Journal, JournalError, Step};
use crate::online::RunExperiment;
use crate::protocol::{ExperimentResult, Insight, Proposal, RoundRef, Verdict};
use crate::skill::{Learn, PatchOutcome};
use actix::prelude::*;
use skillhub::{GetSkill, Skill, TaskSpec};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, info_span, warn, Instrument};

/// The agents, as the coordinator sees them: recipients, so tests can put probes here.
#[derive(Clone)]
pub struct Peers {
    pub actor: Recipient<Propose>,
    pub critic: Recipient<Review>,
    pub online: Recipient<RunExperiment>,
    pub insight: Recipient<Analyse>,
    pub skill: Recipient<Learn>,
    pub skills: Recipient<GetSkill>,
}

pub struct RunPlan {
    pub run_id: String,
    pub task: Arc<TaskSpec>,
    pub seed: u64,
    /// Longest wait for any one agent's answer (an experiment included).
    pub step_timeout: Duration,
    /// Candidates asked of the Actor per arm the budget allows, so the Critic can choose.
    pub proposal_factor: f64,
    /// The Critic's guardrail-risk threshold, shared with the Actor.
    pub max_risk: f64,
}

/// What one round did, for the progress line and the summary.
#[derive(Debug, Clone)]
pub struct RoundReport {
    pub round: u32,
    pub proposed: usize,
    pub accepted: usize,
    pub result: Option<ExperimentResult>,
    pub insight: Option<Arc<Insight>>,
    pub patches: Vec<PatchOutcome>,
    pub skipped: Option<String>,
    pub resumed: bool,
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub rounds: Vec<RoundReport>,
    pub insight: Option<Arc<Insight>>,
    pub stop_reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("round {round}: {agent} failed: {error}")]
    Agent { round: u32, agent: &'static str, error: AgentError },
    #[error("round {round}: {agent} did not answer: {error}")]
    Unreachable { round: u32, agent: &'static str, error: String },
}

const ATTEMPTS: u32 = 5;

/// Sends with a timeout and retries while the agent is being restarted by its supervisor.
async fn ask<M>(
    to: &Recipient<M>,
    msg: M,
    round: u32,
    agent: &'static str,
    timeout: Duration,
) -> Result<M::Result, CoordinatorError>
where
    M: Message + Send + Clone + 'static,
    M::Result: Send,
{
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match to.send(msg.clone()).timeout(timeout).await {
            Ok(answer) => return Ok(answer),
            Err(MailboxError::Timeout) => {
                return Err(CoordinatorError::Unreachable {
                    round,
                    agent,
                    error: format!("no answer within {timeout:?}"),
                })
            }
            Err(e) => {
                last = e.to_string();
                warn!(agent, attempt, error = %e, "agent unreachable (restarting?); retrying");
                actix::clock::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
        }
    }
    Err(CoordinatorError::Unreachable { round, agent, error: last })
}

/// Like [`ask`] for messages answered with `Result<T, AgentError>`: transient agent
/// errors (a crash being restarted) are retried, others end the round.
async fn call<M, T>(
    to: &Recipient<M>,
    msg: M,
    round: u32,
    agent: &'static str,
    timeout: Duration,
) -> Result<T, CoordinatorError>
where
    M: Message<Result = Result<T, AgentError>> + Send + Clone + 'static,
    T: Send + 'static,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ask(to, msg.clone(), round, agent, timeout).await? {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                warn!(agent, attempt, error = %e, "transient agent failure; retrying after restart");
                actix::clock::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(error) => return Err(CoordinatorError::Agent { round, agent, error }),
        }
    }
}

/// A well-mixed seed per (run seed, purpose, round), so rounds and agents draw
/// independent streams (SplitMix64 finaliser).
pub fn derive_seed(seed: u64, purpose: u64, round: u32) -> u64 {
    let mut z =
        seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(round).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub struct Coordinator {
    plan: RunPlan,
    peers: Peers,
    journal: Journal,
}

impl Coordinator {
    pub fn new(plan: RunPlan, peers: Peers, journal: Journal) -> Self {
        Self { plan, peers, journal }
    }

    fn task_id(&self) -> &str {
        &self.plan.task.id
    }

    /// The insight after the last completed round, if any.
    fn last_insight(&self) -> Result<Option<Arc<Insight>>, JournalError> {
        Ok(self.journal.all::<Insight>(self.task_id(), Step::Insight)?.pop().map(|(_, i)| Arc::new(i)))
    }

    /// Runs rounds until the budget is spent or Insight reports convergence, calling
    /// `on_round` after each.
    pub async fn run(self, mut on_round: impl FnMut(&RoundReport)) -> Result<RunOutcome, CoordinatorError> {
        let first = self.journal.next_round(self.task_id())?;
        let mut insight = self.last_insight()?;
        let mut rounds = Vec::new();
        if first > 1 {
            info!(task = %self.task_id(), next_round = first, "resuming a journaled run");
        }
        let budget = self.plan.task.budget.rounds;
        let mut stop_reason = format!("budget of {budget} rounds spent");
        for round in first..=budget {
            if let Some(i) = insight.as_ref().filter(|i| i.converged) {
                stop_reason = format!("converged after round {}: {}", i.round.round, i.convergence_reason);
                info!(reason = %stop_reason, "stopping early");
                break;
            }
            let span = info_span!("round", task = %self.task_id(), round);
            let report = self.round(round, insight.clone()).instrument(span).await?;
            if report.insight.is_some() {
                insight = report.insight.clone();
            }
            on_round(&report);
            rounds.push(report);
        }
        Ok(RunOutcome { rounds, insight, stop_reason })
    }

    async fn skill(&self, round: u32) -> Result<Option<Arc<Skill>>, CoordinatorError> {
        let get = GetSkill { task_id: self.task_id().to_string() };
        match ask(&self.peers.skills, get, round, "skillhub", self.plan.step_timeout).await? {
            Ok(s) => Ok(s.map(Arc::new)),
            Err(e) => {
                warn!(error = %e, "skill unavailable; proposing without it");
                Ok(None)
            }
        }
    }

    async fn proposal(&self, rr: &RoundRef, insight: &Option<Arc<Insight>>) -> Result<Proposal, CoordinatorError> {
        let (task, round) = (self.task_id(), rr.round);
        if let Some(p) = self.journal.get(task, round, Step::Proposal)? {
            return Ok(p);
        }
        let arms = self.plan.task.budget.arms_per_round as f64;
        let msg = Propose {
            round: rr.clone(),
            task: self.plan.task.clone(),
            n: (arms * self.plan.proposal_factor).ceil().max(arms) as usize,
            incumbent: incumbent_config(&self.plan.task, insight),
            insight: insight.clone(),
            skill: self.skill(round).await?,
            seed: derive_seed(self.plan.seed, 1, round),
            max_risk: self.plan.max_risk,
        };
        let p: Proposal = call(&self.peers.actor, msg, round, "actor", self.plan.step_timeout).await?;
        self.journal.put(task, round, Step::Proposal, &p).await?;
        Ok(p)
    }

    async fn verdict(&self, proposal: Proposal, insight: &Option<Arc<Insight>>) -> Result<Verdict, CoordinatorError> {
        let (task, round) = (self.task_id().to_string(), proposal.round.round);
        if let Some(v) = self.journal.get(&task, round, Step::Verdict)? {
            return Ok(v);
        }
        let msg = Review {
            task: self.plan.task.clone(),
            proposal,
            insight: insight.clone(),
            control: incumbent_config(&self.plan.task, insight),
        };
        let v: Verdict = call(&self.peers.critic, msg, round, "critic", self.plan.step_timeout).await?;
        self.journal.put(&task, round, Step::Verdict, &v).await?;
        Ok(v)
    }

    async fn experiment(
        &self,
        verdict: Verdict,
        insight: &Option<Arc<Insight>>,
    ) -> Result<ExperimentResult, CoordinatorError> {
        let (task, round) = (self.task_id().to_string(), verdict.round.round);
        if let Some(r) = self.journal.get(&task, round, Step::Result)? {
            return Ok(r);
        }
        let cv = self.previous_cv(round)?;
        let msg = RunExperiment {
            run_id: self.plan.run_id.clone(),
            task: self.plan.task.clone(),
            verdict,
            control: incumbent_config(&self.plan.task, insight),
            control_id: insight.as_ref().and_then(|i| i.incumbent.candidate_id.clone()),
            cv,
            seed: derive_seed(self.plan.seed, 2, round),
        };
        let r: ExperimentResult = call(&self.peers.online, msg, round, "online", self.plan.step_timeout).await?;
        self.journal.put(&task, round, Step::Result, &r).await?;
        Ok(r)
    }

    /// Per-metric coefficients of variation from the latest earlier experiment (a skipped
    /// round has none), which size the next one.
    fn previous_cv(&self, round: u32) -> Result<std::collections::BTreeMap<String, f64>, JournalError> {
        for r in (1..round).rev() {
            if let Some(res) = self.journal.get::<ExperimentResult>(self.task_id(), r, Step::Result)? {
                return Ok(res.cv);
            }
        }
        Ok(Default::default())
    }

    async fn insight(&self, result: ExperimentResult) -> Result<Arc<Insight>, CoordinatorError> {
        let (task, round) = (self.task_id().to_string(), result.round.round);
        if let Some(i) = self.journal.get::<Insight>(&task, round, Step::Insight)? {
            return Ok(Arc::new(i));
        }
        let i: Insight = call(&self.peers.insight, Analyse(result), round, "insight", self.plan.step_timeout).await?;
        self.journal.put(&task, round, Step::Insight, &i).await?;
        Ok(Arc::new(i))
    }

    async fn learn(&self, insight: Arc<Insight>) -> Result<Vec<PatchOutcome>, CoordinatorError> {
        let (task, round) = (self.task_id().to_string(), insight.round.round);
        if let Some(p) = self.journal.get(&task, round, Step::Patches)? {
            return Ok(p);
        }
        let msg = Learn { task: self.plan.task.clone(), insight };
        let p: Vec<PatchOutcome> = call(&self.peers.skill, msg, round, "skill", self.plan.step_timeout).await?;
        self.journal.put(&task, round, Step::Patches, &p).await?;
        Ok(p)
    }

    async fn round(&self, round: u32, insight: Option<Arc<Insight>>) -> Result<RoundReport, CoordinatorError> {
        let rr = RoundRef { task_id: self.task_id().to_string(), round };
        let resumed = self.journal.get::<serde_json::Value>(&rr.task_id, round, Step::Proposal)?.is_some();
        let proposal = self.proposal(&rr, &insight).await?;
        let proposed = proposal.candidates.len();
        let verdict = self.verdict(proposal, &insight).await?;
        let accepted = verdict.accepted().count();
        let mut report = RoundReport {
            round,
            proposed,
            accepted,
            result: None,
            insight: None,
            patches: Vec::new(),
            skipped: None,
            resumed,
        };
        if accepted == 0 {
            let why = "the Critic accepted no candidate; no experiment launched".to_string();
            info!(reason = %why, "round skipped");
            self.journal.put(&rr.task_id, round, Step::Done, &why).await?;
            report.skipped = Some(why);
            return Ok(report);
        }
        let result = self.experiment(verdict, &insight).await?;
        let new_insight = self.insight(result.clone()).await?;
        report.patches = self.learn(new_insight.clone()).await?;
        report.result = Some(result);
        report.insight = Some(new_insight);
        self.journal.put(&rr.task_id, round, Step::Done, &"done").await?;
        info!(proposed, accepted, "round complete");
        Ok(report)
    }
}

/// The control of the next experiment: the incumbent, or the baseline before any ship.
pub fn incumbent_config(task: &TaskSpec, insight: &Option<Arc<Insight>>) -> skillhub::Configuration {
    insight.as_ref().map_or_else(|| task.baseline(), |i| i.incumbent.config.clone())
}

/// The reports of every completed round of a task, rebuilt from the journal, so a
/// resumed run summarises the whole run and not only what this process did.
pub fn history(journal: &Journal, task_id: &str) -> Result<Vec<RoundReport>, JournalError> {
    let mut out = Vec::new();
    for (round, _) in journal.all::<serde_json::Value>(task_id, Step::Done)? {
        let proposed = journal.get::<Proposal>(task_id, round, Step::Proposal)?.map_or(0, |p| p.candidates.len());
        let accepted = journal.get::<Verdict>(task_id, round, Step::Verdict)?.map_or(0, |v| v.accepted().count());
        let result: Option<ExperimentResult> = journal.get(task_id, round, Step::Result)?;
        let insight = journal.get::<Insight>(task_id, round, Step::Insight)?.map(Arc::new);
        let patches = journal.get(task_id, round, Step::Patches)?.unwrap_or_default();
        let skipped = result.is_none().then(|| "no experiment".to_string());
        out.push(RoundReport { round, proposed, accepted, result, insight, patches, skipped, resumed: false });
    }
    Ok(out)
}
