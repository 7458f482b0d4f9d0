//! The live state of a run, read by `/status` and `/metrics` while it goes: each agent's
//! state (idle, busy, restarting, stopped), the message it is on, its restarts and last
//! error; the coordinator's task, round, step and incumbent; experiments waiting for a
//! person's approval; and the run's counters.
//!
//! Lock-light: counters are atomics; the few strings sit behind mutexes held only to
//! copy a value in or out, never across an `.await`. Updating the board never blocks an
//! arbiter thread for longer than that copy. A [`Board`] is cheap to clone (one `Arc`).

use crate::agent::AgentStats;
use crate::approval::{ApprovalDecision, ApprovalRequest};
use crate::llm::UsageTotals;
use crate::protocol::{Insight, Interval, Verdict};
use crate::skill::PatchOutcome;
use serde::Serialize;
use skillhub::Configuration;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Milliseconds since the Unix epoch, for timestamps a person or a script reads.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A poisoned lock only means a thread panicked while copying a value: the value is
/// still whole, so reporting goes on with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What an agent is doing, as far as the run can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Started, no message outstanding.
    Idle,
    /// Handling a message (or it is queued in its mailbox).
    Busy,
    /// Crashed; its supervisor is restarting it.
    Restarting,
    /// The run is over (or parked) and the agent no longer takes work.
    Stopped,
}

impl AgentState {
    pub(crate) fn from_u8(v: u8) -> Self {
        match v {
            1 => AgentState::Busy,
            2 => AgentState::Restarting,
            3 => AgentState::Stopped,
            _ => AgentState::Idle,
        }
    }
    pub(crate) fn as_u8(self) -> u8 {
        self as u8
    }
}

/// The message an agent is on.
#[derive(Debug, Clone, Serialize)]
pub struct Work {
    /// The message type, e.g. `RunExperiment`.
    pub message: String,
    pub round: u32,
    /// `queued` until the agent's handler starts, then `handling`, or what it waits for
    /// (e.g. `awaiting approval rank-fusion-r3`).
    pub phase: String,
    pub since_ms: u64,
}

/// One agent as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    pub name: String,
    pub state: AgentState,
    pub current: Option<Work>,
    /// Messages sent to the agent whose handling has not started, counted by the board
    /// (actix 0.13 exposes no mailbox length, so this is the sender's count, not a read
    /// of the queue).
    pub mailbox_depth: u64,
    /// Messages outstanding: sent and not yet answered.
    pub in_flight: u64,
    pub handled: u64,
    pub errors: u64,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub llm: UsageTotals,
}

/// The incumbent as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IncumbentView {
    pub candidate_id: Option<String>,
    pub config: Configuration,
    /// Measured objective lift against the production baseline, %.
    pub lift_pct: Option<Interval>,
    pub since_round: u32,
}

/// Where the run is.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RunView {
    pub run_id: String,
    pub task_id: String,
    /// `starting`, `running`, `stopping` (a signal arrived), `finished`, `interrupted`
    /// or `failed`.
    pub state: String,
    /// The round being worked on (0 before the first).
    pub round: u32,
    /// Rounds of the budget.
    pub budget_rounds: u32,
    pub arms_per_round: u32,
    pub units_per_arm: u64,
    /// The step of the round under way: proposal, verdict, experiment, insight, learn.
    pub step: Option<String>,
    pub incumbent: Option<IncumbentView>,
    pub stop_reason: Option<String>,
    pub started_ms: u64,
}

/// The run's counters since this process started (Prometheus counters may reset).
#[derive(Debug, Clone, Serialize, Default)]
pub struct CounterView {
    /// Completed rounds by outcome: `experiment`, `skipped`, `rejected`.
    pub rounds: BTreeMap<String, u64>,
    pub launches: u64,
    /// Critic decisions: `accepted`|`rejected` → reason class → count (nested rather
    /// than keyed by pairs, so the JSON of `/status` can hold it).
    pub verdicts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Skill patches by outcome: `applied`, `duplicate`, `refused`.
    pub skill_patches: BTreeMap<String, u64>,
    /// Approval decisions by `approved`|`rejected`.
    pub approvals: BTreeMap<String, u64>,
    /// Times the coordinator found an agent restarting and retried the step.
    pub step_retries: u64,
}

/// Everything `/status` serves.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub run: RunView,
    pub agents: Vec<AgentView>,
    pub pending_approvals: Vec<ApprovalRequest>,
    pub counters: CounterView,
    pub now_ms: u64,
}

pub(crate) struct Pending {
    pub(crate) request: ApprovalRequest,
    /// A decision is being journaled; a second one is refused meanwhile.
    pub(crate) deciding: bool,
    /// Where the agent waits for the decision; `None` while no agent waits (it was
    /// restarted and has not asked again yet).
    pub(crate) waiter: Option<futures::channel::oneshot::Sender<ApprovalDecision>>,
}

struct Inner {
    agents: Vec<Arc<AgentStats>>,
    run: Mutex<RunView>,
    counters: Mutex<CounterView>,
    approvals: Mutex<BTreeMap<String, Pending>>,
    /// Signals received (SIGINT/SIGTERM); the first asks for a graceful stop, a second
    /// parks the current step at once.
    shutdown: tokio::sync::watch::Sender<u32>,
    shutdown_reason: Mutex<Option<String>>,
    retries: AtomicU64,
    launches: AtomicU64,
}

/// The run's live state; see the module documentation.
#[derive(Clone)]
pub struct Board(Arc<Inner>);

impl Default for Board {
    fn default() -> Self {
        Board::new(&[])
    }
}

impl Board {
    /// A board for the named agents (their order is the order `/status` lists them in).
    pub fn new(agents: &[&'static str]) -> Self {
        let (shutdown, _) = tokio::sync::watch::channel(0);
        Board(Arc::new(Inner {
            agents: agents.iter().map(|n| Arc::new(AgentStats::named(n))).collect(),
            run: Mutex::new(RunView { state: "starting".into(), started_ms: now_ms(), ..Default::default() }),
            counters: Mutex::new(CounterView::default()),
            approvals: Mutex::new(BTreeMap::new()),
            shutdown,
            shutdown_reason: Mutex::new(None),
            retries: AtomicU64::new(0),
            launches: AtomicU64::new(0),
        }))
    }

    /// The slot of one agent, shared with its [`crate::agent::AgentHandle`]; a name the
    /// board was not built with gets a detached slot (updates go nowhere visible).
    pub fn agent(&self, name: &str) -> Arc<AgentStats> {
        self.0.agents.iter().find(|a| a.name() == name).cloned().unwrap_or_default()
    }

    pub fn agents(&self) -> &[Arc<AgentStats>] {
        &self.0.agents
    }

    // --- the coordinator's view ---

    pub fn set_run(&self, run_id: &str, task: &skillhub::TaskSpec) {
        let mut r = lock(&self.0.run);
        r.run_id = run_id.to_string();
        r.task_id = task.id.clone();
        r.budget_rounds = task.budget.rounds;
        r.arms_per_round = task.budget.arms_per_round;
        r.units_per_arm = task.budget.units_per_arm;
        r.state = "running".into();
    }

    pub fn set_round(&self, round: u32) {
        lock(&self.0.run).round = round;
    }

    pub fn set_step(&self, step: Option<&str>) {
        lock(&self.0.run).step = step.map(str::to_string);
    }

    pub fn set_incumbent(&self, insight: &Insight) {
        let i = &insight.incumbent;
        lock(&self.0.run).incumbent = Some(IncumbentView {
            candidate_id: i.candidate_id.clone(),
            config: i.config.clone(),
            lift_pct: i.score_vs_baseline,
            since_round: i.since_round,
        });
    }

    /// The run is over: every agent is marked stopped and the run's state recorded.
    pub fn finish(&self, state: &str, reason: &str) {
        {
            let mut r = lock(&self.0.run);
            r.state = state.to_string();
            r.stop_reason = Some(reason.to_string());
            r.step = None;
        }
        for a in &self.0.agents {
            a.stopped();
        }
    }

    pub fn run_view(&self) -> RunView {
        lock(&self.0.run).clone()
    }

    pub fn count_round(&self, outcome: &str) {
        *lock(&self.0.counters).rounds.entry(outcome.to_string()).or_default() += 1;
    }

    pub fn count_verdict(&self, v: &Verdict) {
        let mut c = lock(&self.0.counters);
        for d in &v.decisions {
            let (decision, reason) =
                if d.accepted { ("accepted", "accepted".to_string()) } else { ("rejected", reason_class(&d.reason)) };
            *c.verdicts.entry(decision.to_string()).or_default().entry(reason).or_default() += 1;
        }
    }

    pub fn count_patches(&self, patches: &[PatchOutcome]) {
        let mut c = lock(&self.0.counters);
        for p in patches {
            let outcome = match (&p.result, p.duplicate) {
                (_, true) => "duplicate",
                (Ok(_), false) => "applied",
                (Err(_), false) => "refused",
            };
            *c.skill_patches.entry(outcome.to_string()).or_default() += 1;
        }
    }

    pub fn count_launch(&self) {
        self.0.launches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_retry(&self) {
        self.0.retries.fetch_add(1, Ordering::Relaxed);
    }

    // --- approvals ---

    /// Registers an experiment waiting for a decision (replacing an earlier wait for the
    /// same id, e.g. by an agent since restarted) and returns where the decision arrives.
    pub fn await_approval(&self, request: ApprovalRequest) -> futures::channel::oneshot::Receiver<ApprovalDecision> {
        let (tx, rx) = futures::channel::oneshot::channel();
        let mut approvals = lock(&self.0.approvals);
        let entry = approvals.entry(request.id.clone()).or_insert(Pending { request, deciding: false, waiter: None });
        entry.waiter = Some(tx);
        rx
    }

    /// True while some experiment waits for a person: the coordinator does not count
    /// that time against its step timeout.
    pub fn awaiting_approval(&self) -> bool {
        !lock(&self.0.approvals).is_empty()
    }

    pub fn pending_approvals(&self) -> Vec<ApprovalRequest> {
        lock(&self.0.approvals).values().map(|p| p.request.clone()).collect()
    }

    pub(crate) fn approvals_map(&self) -> &Mutex<BTreeMap<String, Pending>> {
        &self.0.approvals
    }

    /// Ends a decision begun with `begin_decision`: with the journaled decision, the
    /// entry goes and the waiting agent (whichever waits now) gets it; without one
    /// (journaling failed), the entry is pending again.
    pub(crate) fn end_decision(&self, id: &str, decision: Option<ApprovalDecision>) {
        let mut approvals = lock(&self.0.approvals);
        let Some(decision) = decision else {
            if let Some(p) = approvals.get_mut(id) {
                p.deciding = false;
            }
            return;
        };
        let waiter = approvals.remove(id).and_then(|p| p.waiter);
        drop(approvals);
        let label = if decision.approved { "approved" } else { "rejected" };
        *lock(&self.0.counters).approvals.entry(label.to_string()).or_default() += 1;
        if let Some(tx) = waiter {
            let _ = tx.send(decision);
        }
    }

    /// Drops a pending entry whose agent no longer waits (its round ended otherwise).
    pub fn forget_approval(&self, id: &str) {
        lock(&self.0.approvals).remove(id);
    }

    // --- shutdown ---

    /// Records a signal: the first asks the run to stop after (or park) its current step.
    pub fn request_shutdown(&self, reason: &str) {
        lock(&self.0.shutdown_reason).get_or_insert_with(|| reason.to_string());
        self.0.shutdown.send_modify(|n| *n += 1);
        let mut r = lock(&self.0.run);
        if r.state == "running" || r.state == "starting" {
            r.state = "stopping".into();
        }
    }

    /// Why the run was asked to stop, once it was.
    pub fn shutdown_requested(&self) -> Option<String> {
        lock(&self.0.shutdown_reason).clone()
    }

    /// Signals received so far, to wait on.
    pub fn shutdown_signals(&self) -> tokio::sync::watch::Receiver<u32> {
        self.0.shutdown.subscribe()
    }

    // --- reading ---

    pub fn snapshot(&self) -> Snapshot {
        let mut counters = lock(&self.0.counters).clone();
        counters.launches = self.0.launches.load(Ordering::Relaxed);
        counters.step_retries = self.0.retries.load(Ordering::Relaxed);
        Snapshot {
            run: self.run_view(),
            agents: self.0.agents.iter().map(|a| a.view()).collect(),
            pending_approvals: self.pending_approvals(),
            counters,
            now_ms: now_ms(),
        }
    }
}

/// A rejection reason reduced to a label with few values: the words before any detail
/// (a parenthesis or a colon), without ids or numbers, e.g. `near-duplicate of already
/// measured`.
pub fn reason_class(reason: &str) -> String {
    let head = reason.split(['(', ':']).next().unwrap_or_default();
    let words: Vec<&str> = head.split_whitespace().filter(|w| !w.chars().any(|c| c.is_ascii_digit())).take(6).collect();
    let class = words.join(" ").to_lowercase();
    if class.is_empty() {
        "other".into()
    } else {
        class
    }
}

/// Restarts per window, exponential backoff between retries: how much failing an agent
/// may do before the run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisionSettings {
    /// Restarts of one agent tolerated within `window_s`; one more stops the run.
    pub max_restarts: u32,
    pub window_s: u64,
    /// Wait before the first retry of a step whose agent crashed; doubled per retry.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// On SIGINT/SIGTERM, how long the current step may take to finish before it is
    /// parked (left to the journal for the next `rectune run`); a second signal parks
    /// at once.
    pub shutdown_grace_s: u64,
}

impl Default for SupervisionSettings {
    fn default() -> Self {
        Self { max_restarts: 5, window_s: 60, backoff_initial_ms: 100, backoff_max_ms: 5_000, shutdown_grace_s: 10 }
    }
}

impl SupervisionSettings {
    /// The wait before retry `n` (1-based): initial × 2^(n-1), capped.
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 1u64 << n.saturating_sub(1).min(20);
        Duration::from_millis(self.backoff_initial_ms.saturating_mul(factor).min(self.backoff_max_ms))
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_classes_drop_ids_and_details() {
        assert_eq!(
            reason_class("near-duplicate of already measured r1-c2 (distance 0.010)"),
            "near-duplicate of already measured"
        );
        assert_eq!(reason_class("invalid: w_ctr out of range"), "invalid");
        assert_eq!(reason_class("batch is full (4 arms per round)"), "batch is full");
        assert_eq!(reason_class("123"), "other");
    }

    #[test]
    fn status_shows_the_task_round_budget_and_the_incumbents_lift() {
        let task = crate::fixtures::task(&["a"], vec![]);
        let board = Board::new(&["actor"]);
        board.set_run("run-1", &task);
        board.set_round(3);
        assert!(board.snapshot().run.incumbent.is_none(), "nothing shipped yet");
        let mut insight = crate::fixtures::empty_insight(&task, 3);
        insight.incumbent.candidate_id = Some("r2-c1".into());
        insight.incumbent.since_round = 2;
        insight.incumbent.score_vs_baseline = Some(Interval { estimate: 1.2, low: 0.4, high: 2.0 });
        board.set_incumbent(&insight);
        let run = board.snapshot().run;
        assert_eq!((run.task_id.as_str(), run.round, run.budget_rounds), ("t", 3, 8));
        let inc = run.incumbent.expect("the incumbent");
        assert_eq!((inc.candidate_id.as_deref(), inc.since_round), (Some("r2-c1"), 2));
        assert_eq!(inc.lift_pct, Some(Interval { estimate: 1.2, low: 0.4, high: 2.0 }));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let s = SupervisionSettings { backoff_initial_ms: 100, backoff_max_ms: 1_000, ..Default::default() };
        let ms: Vec<u128> = (1..=6).map(|n| s.backoff(n).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1_000, 1_000]);
    }
}
