//! The coordinator drives rounds: Actor → Critic → Online → Insight → Skill, journaling
//! each step's output before taking the next, so a restarted run skips what is done
//! and redoes only the step that was interrupted (idempotently).

use crate::actor::Propose;
use crate::agent::AgentError;
use crate::board::{Board, SupervisionSettings};
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
    /// Extra reviewers between the Critic and the Online agent (e.g. the Cost agent),
    /// asked in order; each may veto candidates the Critic accepted.
    pub vetoes: Vec<crate::veto::Reviewer>,
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
    /// The treatments a narrow round asked for (`Proposal::treatments`).
    pub narrow: Option<u32>,
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
    #[error(
        "round {round}: the {agent} agent keeps failing: {restarts} restarts within {window_s}s (limit {limit}); \
         last error: {last_error}. The run stopped with its state saved: fix the cause, then `rectune run` with \
         the same --db resumes at round {round}"
    )]
    AgentFailing { round: u32, agent: &'static str, restarts: usize, window_s: u64, limit: u32, last_error: String },
    /// A signal stopped the run while `agent` worked on `round`; the step is parked.
    #[error("round {round}: interrupted by {reason} while {agent} worked; the step is parked for the next run")]
    Interrupted { round: u32, agent: &'static str, reason: String },
}

const ATTEMPTS: u32 = 5;

/// What every request of the coordinator shares: the board it reports to, the limits
/// of supervision and the step timeout.
struct Link<'a> {
    board: &'a Board,
    limits: &'a SupervisionSettings,
    timeout: Duration,
}

/// How waiting for one answer ended without it.
enum Waited {
    Mailbox(MailboxError),
    Timeout,
    Parked(String),
}

/// The message type's own name, e.g. `RunExperiment`, for the board.
fn message_name<M>() -> &'static str {
    let full = std::any::type_name::<M>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Waits for `answer`, up to the step timeout; time while an experiment waits for a
/// person's approval does not count. A first signal gives the step the grace period to
/// finish, a second (or a step that waits for a person) parks it at once.
async fn wait_answer<T>(
    link: &Link<'_>,
    answer: impl std::future::Future<Output = Result<T, MailboxError>>,
    signals: &mut tokio::sync::watch::Receiver<u32>,
) -> Result<T, Waited> {
    use actix::clock::{sleep_until, Instant};
    tokio::pin!(answer);
    let mut deadline = Instant::now() + link.timeout;
    let mut grace: Option<Instant> = None;
    let mut closed = false;
    loop {
        let until = grace.map_or(deadline, |g| g.min(deadline));
        tokio::select! {
            r = &mut answer => return r.map_err(Waited::Mailbox),
            _ = sleep_until(until) => {
                if grace.is_some_and(|g| Instant::now() >= g) {
                    return Err(Waited::Parked(link.board.shutdown_requested().unwrap_or_default()));
                }
                if link.board.awaiting_approval() {
                    deadline = Instant::now() + link.timeout;
                    continue;
                }
                return Err(Waited::Timeout);
            }
            changed = signals.changed(), if !closed => {
                closed = changed.is_err();
                let reason = link.board.shutdown_requested().unwrap_or_default();
                if *signals.borrow() >= 2 || link.board.awaiting_approval() {
                    return Err(Waited::Parked(reason));
                }
                let g = *grace.get_or_insert_with(|| Instant::now() + Duration::from_secs(link.limits.shutdown_grace_s));
                info!(%reason, grace_s = link.limits.shutdown_grace_s, until = ?g, "stop requested; letting the current step finish");
            }
        }
    }
}

/// Stops the run once `agent` has restarted more than `max_restarts` times within the
/// window, or this step has crashed it more than `max_restarts` times in a row (so a
/// crash loop slower than the window still ends).
fn restart_limit(
    link: &Link<'_>,
    crashes: u32,
    round: u32,
    agent: &'static str,
    error: &str,
) -> Result<(), CoordinatorError> {
    let limit = link.limits.max_restarts;
    let slot = link.board.agent(agent);
    let restarts = slot.restarts_within(link.limits.window());
    if restarts <= limit as usize && crashes <= limit {
        return Ok(());
    }
    let restarts = restarts.max(crashes as usize);
    let last_error = slot.last_error().unwrap_or_else(|| error.to_string());
    tracing::error!(agent, restarts, limit, window_s = link.limits.window_s, error = %last_error, "agent keeps failing; stopping the run");
    Err(CoordinatorError::AgentFailing { round, agent, restarts, window_s: link.limits.window_s, limit, last_error })
}

/// Sends with a timeout and retries while the agent is being restarted by its supervisor.
/// `failure` tells the board whether an answer is an error. An agent that crashes on
/// the message closes its mailbox before answering; its supervisor restarts it and the
/// message is sent again after a backoff, within [`restart_limit`]. A mailbox closed
/// without a restart is retried [`ATTEMPTS`] times.
async fn ask<M>(
    link: &Link<'_>,
    to: &Recipient<M>,
    msg: M,
    round: u32,
    agent: &'static str,
    failure: impl Fn(&M::Result) -> Option<String>,
) -> Result<M::Result, CoordinatorError>
where
    M: Message + Send + Clone + 'static,
    M::Result: Send,
{
    let slot = link.board.agent(agent);
    let (mut silent, mut crashes) = (0, 0);
    loop {
        let mut signals = link.board.shutdown_signals();
        if let Some(reason) = link.board.shutdown_requested() {
            return Err(CoordinatorError::Interrupted { round, agent, reason });
        }
        let restarts_before = slot.restarts();
        slot.sent(message_name::<M>(), round);
        match wait_answer(link, to.send(msg.clone()), &mut signals).await {
            Ok(answer) => {
                slot.answered(failure(&answer).as_deref());
                return Ok(answer);
            }
            Err(Waited::Timeout) => {
                let error = format!("no answer within {:?}", link.timeout);
                slot.answered(Some(&error));
                return Err(CoordinatorError::Unreachable { round, agent, error });
            }
            Err(Waited::Parked(reason)) => {
                slot.answered(None);
                return Err(CoordinatorError::Interrupted { round, agent, reason });
            }
            Err(Waited::Mailbox(e)) => {
                slot.undelivered();
                slot.answered(Some(&e.to_string()));
                let wait = link.limits.backoff(silent + crashes + 1);
                warn!(agent, attempt = silent + crashes + 1, error = %e, backoff_ms = wait.as_millis() as u64, "agent unreachable (restarting?); retrying");
                link.board.count_retry();
                // By the end of the backoff the supervisor has restarted a crashed agent.
                actix::clock::sleep(wait).await;
                if slot.restarts() > restarts_before {
                    crashes += 1;
                    restart_limit(link, crashes, round, agent, &e.to_string())?;
                } else {
                    silent += 1;
                    if silent >= ATTEMPTS {
                        return Err(CoordinatorError::Unreachable { round, agent, error: e.to_string() });
                    }
                }
            }
        }
    }
}

/// Like [`ask`] for messages answered with `Result<T, AgentError>`. A crashed agent is
/// retried after its supervisor restarted it, with exponential backoff, until it has
/// restarted more than `max_restarts` times within the window: then the run stops with
/// [`CoordinatorError::AgentFailing`]. Other transient errors are retried a few times;
/// the rest end the round.
async fn call<M, T>(
    link: &Link<'_>,
    to: &Recipient<M>,
    msg: M,
    round: u32,
    agent: &'static str,
) -> Result<T, CoordinatorError>
where
    M: Message<Result = Result<T, AgentError>> + Send + Clone + 'static,
    T: Send + 'static,
{
    let slot = link.board.agent(agent);
    let (mut crashes, mut transient) = (0, 0);
    loop {
        let failure = |r: &Result<T, AgentError>| r.as_ref().err().map(ToString::to_string);
        match ask(link, to, msg.clone(), round, agent, failure).await? {
            Ok(v) => return Ok(v),
            Err(e @ AgentError::Crashed { .. }) => {
                crashes += 1;
                let wait = link.limits.backoff(crashes);
                link.board.count_retry();
                // By the end of the backoff the supervisor has restarted the agent.
                actix::clock::sleep(wait).await;
                restart_limit(link, crashes, round, agent, &e.to_string())?;
                warn!(agent, restarts = slot.restarts(), backoff_ms = wait.as_millis() as u64, error = %e, "agent crashed and was restarted; retrying the step");
            }
            Err(e) if e.is_transient() && transient + 1 < ATTEMPTS => {
                transient += 1;
                let wait = link.limits.backoff(transient);
                warn!(agent, attempt = transient, error = %e, "transient agent failure; retrying");
                link.board.count_retry();
                actix::clock::sleep(wait).await;
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
    board: Board,
    limits: SupervisionSettings,
}

impl Coordinator {
    pub fn new(plan: RunPlan, peers: Peers, journal: Journal) -> Self {
        Self { plan, peers, journal, board: Board::default(), limits: SupervisionSettings::default() }
    }

    /// Reports the run's live state to `board` (the one the agents' handles share).
    pub fn with_board(mut self, board: Board) -> Self {
        self.board = board;
        self
    }

    pub fn with_supervision(mut self, limits: SupervisionSettings) -> Self {
        self.limits = limits;
        self
    }

    fn link(&self) -> Link<'_> {
        Link { board: &self.board, limits: &self.limits, timeout: self.plan.step_timeout }
    }

    fn step(&self, step: &str) {
        self.board.set_step(Some(step));
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
    pub async fn run(self, on_round: impl FnMut(&RoundReport)) -> Result<RunOutcome, CoordinatorError> {
        self.board.set_run(&self.plan.run_id, &self.plan.task);
        let outcome = self.rounds(on_round).await;
        match &outcome {
            Ok(o) if self.board.shutdown_requested().is_some() => self.board.finish("interrupted", &o.stop_reason),
            Ok(o) => self.board.finish("finished", &o.stop_reason),
            Err(e) => self.board.finish("failed", &e.to_string()),
        }
        outcome
    }

    async fn rounds(&self, mut on_round: impl FnMut(&RoundReport)) -> Result<RunOutcome, CoordinatorError> {
        let first = self.journal.next_round(self.task_id())?;
        let mut insight = self.last_insight()?;
        if let Some(i) = &insight {
            self.board.set_incumbent(i);
        }
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
            if let Some(signal) = self.board.shutdown_requested() {
                stop_reason = format!(
                    "interrupted by {signal} before round {round}; `rectune run` with the same database resumes there"
                );
                info!(reason = %stop_reason, "stopping");
                break;
            }
            self.board.set_round(round);
            let span = info_span!("round", task = %self.task_id(), round);
            let report = match self.round(round, insight.clone()).instrument(span).await {
                Err(CoordinatorError::Interrupted { round, agent, reason }) => {
                    stop_reason = format!(
                        "interrupted by {reason} during round {round} ({agent} step parked); `rectune run` with the same database resumes there"
                    );
                    info!(reason = %stop_reason, "stopping");
                    break;
                }
                other => other?,
            };
            if let Some(i) = &report.insight {
                self.board.set_incumbent(i);
                insight = report.insight.clone();
            }
            on_round(&report);
            rounds.push(report);
        }
        Ok(RunOutcome { rounds, insight, stop_reason })
    }

    async fn skill(&self, round: u32) -> Result<Option<Arc<Skill>>, CoordinatorError> {
        let get = GetSkill { task_id: self.task_id().to_string() };
        let failure = |r: &Result<Option<Skill>, skillhub::SkillError>| r.as_ref().err().map(ToString::to_string);
        match ask(&self.link(), &self.peers.skills, get, round, "skillhub", failure).await? {
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
        let p: Proposal = call(&self.link(), &self.peers.actor, msg, round, "actor").await?;
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
        let mut v: Verdict = call(&self.link(), &self.peers.critic, msg, round, "critic").await?;
        self.vet(&mut v).await?;
        self.board.count_verdict(&v);
        self.journal.put(&task, round, Step::Verdict, &v).await?;
        Ok(v)
    }

    /// Asks each extra reviewer about the candidates still accepted and rejects what it
    /// vetoes; the verdict is journaled after all of them, so a resumed round asks none.
    async fn vet(&self, v: &mut Verdict) -> Result<(), CoordinatorError> {
        for reviewer in &self.peers.vetoes {
            let accepted: Vec<_> = v.accepted().cloned().collect();
            if accepted.is_empty() {
                break;
            }
            let msg = crate::veto::Vet { task: self.plan.task.clone(), round: v.round.clone(), accepted };
            let vetoes = call(&self.link(), &reviewer.to, msg, v.round.round, reviewer.name).await?;
            crate::veto::apply_vetoes(v, reviewer.name, &vetoes);
        }
        Ok(())
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
        let r: ExperimentResult = call(&self.link(), &self.peers.online, msg, round, "online").await?;
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
        let i: Insight = call(&self.link(), &self.peers.insight, Analyse(result), round, "insight").await?;
        self.journal.put(&task, round, Step::Insight, &i).await?;
        Ok(Arc::new(i))
    }

    async fn learn(&self, insight: Arc<Insight>) -> Result<Vec<PatchOutcome>, CoordinatorError> {
        let (task, round) = (self.task_id().to_string(), insight.round.round);
        if let Some(p) = self.journal.get(&task, round, Step::Patches)? {
            return Ok(p);
        }
        let msg = Learn { task: self.plan.task.clone(), run_id: self.plan.run_id.clone(), insight };
        let p: Vec<PatchOutcome> = call(&self.link(), &self.peers.skill, msg, round, "skill").await?;
        self.board.count_patches(&p);
        self.journal.put(&task, round, Step::Patches, &p).await?;
        Ok(p)
    }

    async fn round(&self, round: u32, insight: Option<Arc<Insight>>) -> Result<RoundReport, CoordinatorError> {
        let rr = RoundRef { task_id: self.task_id().to_string(), round };
        let resumed = self.journal.get::<serde_json::Value>(&rr.task_id, round, Step::Proposal)?.is_some();
        self.step("proposal");
        let proposal = self.proposal(&rr, &insight).await?;
        let (proposed, narrow) = (proposal.candidates.len(), proposal.treatments);
        self.step("verdict");
        let verdict = self.verdict(proposal, &insight).await?;
        let accepted = verdict.accepted().count();
        let mut report = RoundReport {
            round,
            proposed,
            narrow,
            accepted,
            result: None,
            insight: None,
            patches: Vec::new(),
            skipped: None,
            resumed,
        };
        if accepted == 0 {
            let why =
                "no candidate passed review (the Critic and any extra reviewer); no experiment launched".to_string();
            info!(reason = %why, "round skipped");
            self.journal.put(&rr.task_id, round, Step::Done, &why).await?;
            self.board.count_round("skipped");
            report.skipped = Some(why);
            return Ok(report);
        }
        self.step("experiment");
        let result = match self.experiment(verdict, &insight).await {
            Err(CoordinatorError::Agent { error: AgentError::Rejected { id, by, reason }, .. }) => {
                // A person said no: nothing was launched; the round ends without an
                // experiment and the run goes on from the same incumbent.
                let why = format!("experiment {id} rejected by {by} ({reason}); no experiment launched");
                info!(reason = %why, "round ends without an experiment");
                self.journal.put(&rr.task_id, round, Step::Done, &why).await?;
                self.board.count_round("rejected");
                report.skipped = Some(why);
                return Ok(report);
            }
            other => other?,
        };
        self.step("insight");
        let new_insight = self.insight(result.clone()).await?;
        self.step("learn");
        report.patches = self.learn(new_insight.clone()).await?;
        report.result = Some(result);
        report.insight = Some(new_insight);
        self.journal.put(&rr.task_id, round, Step::Done, &"done").await?;
        self.board.count_round("experiment");
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
    for (round, done) in journal.all::<serde_json::Value>(task_id, Step::Done)? {
        let proposal = journal.get::<Proposal>(task_id, round, Step::Proposal)?;
        let (proposed, narrow) = proposal.map_or((0, None), |p| (p.candidates.len(), p.treatments));
        let accepted = journal.get::<Verdict>(task_id, round, Step::Verdict)?.map_or(0, |v| v.accepted().count());
        let result: Option<ExperimentResult> = journal.get(task_id, round, Step::Result)?;
        let insight = journal.get::<Insight>(task_id, round, Step::Insight)?.map(Arc::new);
        let patches = journal.get(task_id, round, Step::Patches)?.unwrap_or_default();
        let why = done.as_str().filter(|w| *w != "done").unwrap_or("no experiment");
        let skipped = result.is_none().then(|| why.to_string());
        out.push(RoundReport { round, proposed, narrow, accepted, result, insight, patches, skipped, resumed: false });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::AgentStats;

    /// An Actor that dies while working on every proposal, before it answers: its
    /// supervisor's restart drops the pending answer, so the coordinator sees a closed
    /// mailbox, never an `AgentError::Crashed`.
    struct DiesMidStep(Arc<AgentStats>);

    impl Actor for DiesMidStep {
        type Context = Context<Self>;
    }

    impl Supervised for DiesMidStep {
        fn restarting(&mut self, _: &mut Context<Self>) {
            self.0.restarted();
        }
    }

    impl Handler<Propose> for DiesMidStep {
        type Result = ResponseActFuture<Self, Result<Proposal, AgentError>>;
        fn handle(&mut self, _: Propose, ctx: &mut Context<Self>) -> Self::Result {
            self.0.handling();
            ctx.stop();
            Box::pin(actix::fut::wrap_future(std::future::pending()))
        }
    }

    /// The peers the round never reaches; answering them would be a test failure.
    struct Unreached;

    impl Actor for Unreached {
        type Context = Context<Self>;
    }

    macro_rules! unreached {
        ($($m:ty => $t:ty),*) => {$(
            impl Handler<$m> for Unreached {
                type Result = Result<$t, AgentError>;
                fn handle(&mut self, _: $m, _: &mut Context<Self>) -> Self::Result {
                    Err(AgentError::Invalid(concat!(stringify!($m), " was sent; the round should have stopped").into()))
                }
            }
        )*};
    }
    unreached!(Review => Verdict, RunExperiment => ExperimentResult, Analyse => Insight, Learn => Vec<PatchOutcome>);

    impl Handler<GetSkill> for Unreached {
        type Result = Result<Option<Skill>, skillhub::SkillError>;
        fn handle(&mut self, _: GetSkill, _: &mut Context<Self>) -> Self::Result {
            Ok(None)
        }
    }

    #[actix::test]
    async fn an_agent_that_dies_before_answering_stops_the_run_at_the_restart_limit() {
        let db = sled::Config::new().temporary(true).open().expect("a temporary database");
        let journal = Journal::open(&db).expect("the journal");
        let task = Arc::new(crate::fixtures::task(&["a"], vec![]));
        let board = Board::new(&["actor"]);
        let stats = board.agent("actor");
        let actor = Supervisor::start(move |_| DiesMidStep(stats.clone()));
        let other = Unreached.start();
        let peers = Peers {
            actor: actor.recipient(),
            critic: other.clone().recipient(),
            online: other.clone().recipient(),
            insight: other.clone().recipient(),
            skill: other.clone().recipient(),
            skills: other.recipient(),
            vetoes: Vec::new(),
        };
        let plan = RunPlan {
            run_id: "run".into(),
            task,
            seed: 1,
            step_timeout: Duration::from_secs(30),
            proposal_factor: 1.0,
            max_risk: 0.5,
        };
        let limits =
            SupervisionSettings { max_restarts: 2, backoff_initial_ms: 1, backoff_max_ms: 4, ..Default::default() };
        let coordinator =
            Coordinator::new(plan, peers, journal.clone()).with_board(board.clone()).with_supervision(limits);

        let outcome = coordinator.run(|_| {}).await;

        match outcome {
            Err(CoordinatorError::AgentFailing { round: 1, agent: "actor", restarts: 3, limit: 2, .. }) => {}
            other => panic!("expected the actor to be given up on after 3 restarts, got {other:?}"),
        }
        let actor = board.agent("actor");
        assert_eq!(actor.restarts(), 3, "one restart per delivery, none after the run stopped");
        assert!(actor.last_error().is_some_and(|e| e.contains("Mailbox")), "{:?}", actor.last_error());
        assert_eq!(board.run_view().state, "failed");
        assert!(journal.get::<Proposal>("t", 1, Step::Proposal).expect("read the journal").is_none());
    }
}
