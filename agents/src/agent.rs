//! What every agent actor shares: its error type, its restart counter and the fault
//! injection that proves supervision works.

use crate::board::{lock, now_ms, AgentState, AgentView, Board, Work};
use crate::llm::CallStats;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An agent's failure to handle a message. Errors are values: an agent never panics on
/// bad input, it answers with one of these.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AgentError {
    #[error("journal: {0}")]
    Journal(String),
    #[error("platform: {0}")]
    Platform(#[from] crate::platform::PlatformError),
    #[error("skillhub: {0}")]
    Skillhub(String),
    #[error("{agent} crashed while handling {message} and is being restarted")]
    Crashed { agent: &'static str, message: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error("experiment {0} did not finish within the step timeout")]
    Timeout(String),
    #[error("experiment {id} was rejected by {by}: {reason}; it was not launched")]
    Rejected { id: String, by: String, reason: String },
}

impl From<crate::journal::JournalError> for AgentError {
    fn from(e: crate::journal::JournalError) -> Self {
        AgentError::Journal(e.to_string())
    }
}

impl AgentError {
    /// Transient errors are worth retrying once the supervisor has restarted the agent.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AgentError::Crashed { .. } | AgentError::Platform(crate::platform::PlatformError::Unavailable(_))
        )
    }
}

/// An agent's slot on the run's [`crate::board::Board`]: what it is doing, its counters
/// and restarts, its model usage. Kept across restarts (the handle is shared), updated by
/// the coordinator when it sends and gets answers, and by the agent when a handler starts
/// ([`AgentHandle::crash`]) or its supervisor restarts it ([`AgentStats::restarted`]).
#[derive(Debug, Default)]
pub struct AgentStats {
    name: String,
    pub restarts: AtomicU32,
    state: AtomicU8,
    queued: AtomicU64,
    in_flight: AtomicU64,
    handled: AtomicU64,
    errors: AtomicU64,
    current: Mutex<Option<Work>>,
    last_error: Mutex<Option<String>>,
    /// The agent recorded its own error for the message under way (e.g. an injected
    /// crash): the coordinator's view of the same failure ("mailbox closed") is vaguer.
    own_error: AtomicBool,
    restart_times: Mutex<VecDeque<Instant>>,
    /// The counters of the agent's metered model client ([`AgentStats::meter`]), for
    /// `/status` and `/metrics`; empty for built-in reasoning.
    llm: Mutex<Arc<CallStats>>,
}

impl AgentStats {
    pub fn named(name: &str) -> Self {
        Self { name: name.to_string(), ..Default::default() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Called by the agent's `Supervised::restarting`.
    pub fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
        self.state.store(AgentState::Restarting.as_u8(), Ordering::Relaxed);
        let mut times = lock(&self.restart_times);
        times.push_back(Instant::now());
        while times.len() > 1024 {
            times.pop_front();
        }
    }

    /// Reports the model calls counted in `calls` (those of the agent's
    /// [`crate::llm::MeteredClient`], e.g. [`crate::reasoning::Reasoner::calls`]) as this
    /// agent's.
    pub fn meter(&self, calls: Arc<CallStats>) {
        *lock(&self.llm) = calls;
    }

    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// Restarts within the last `window`.
    pub fn restarts_within(&self, window: Duration) -> usize {
        let now = Instant::now();
        lock(&self.restart_times).iter().filter(|t| now.duration_since(**t) <= window).count()
    }

    pub fn state(&self) -> AgentState {
        AgentState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// The coordinator sent `message` for `round`.
    pub fn sent(&self, message: &str, round: u32) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.own_error.store(false, Ordering::Relaxed);
        self.state.store(AgentState::Busy.as_u8(), Ordering::Relaxed);
        *lock(&self.current) =
            Some(Work { message: message.to_string(), round, phase: "queued".into(), since_ms: now_ms() });
    }

    /// A sent message never reached the agent (its mailbox was closed).
    pub fn undelivered(&self) {
        dec(&self.queued);
    }

    /// The agent's handler started on a message.
    pub fn handling(&self) {
        dec(&self.queued);
        self.state.store(AgentState::Busy.as_u8(), Ordering::Relaxed);
        self.set_phase("handling");
    }

    /// What the agent waits for inside its handler, e.g. `awaiting approval ID`.
    pub fn set_phase(&self, phase: &str) {
        if let Some(w) = lock(&self.current).as_mut() {
            w.phase = phase.to_string();
        }
    }

    /// The coordinator got an answer (or gave up on one): `error` when it failed.
    pub fn answered(&self, error: Option<&str>) {
        dec(&self.in_flight);
        self.handled.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            if !self.own_error.swap(false, Ordering::Relaxed) {
                *lock(&self.last_error) = Some(e.to_string());
            }
        }
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            *lock(&self.current) = None;
            if self.state() == AgentState::Busy {
                self.state.store(AgentState::Idle.as_u8(), Ordering::Relaxed);
            }
        }
    }

    /// The agent's own account of a failure; it stays the last error when the coordinator
    /// then sees the same failure from its side.
    pub fn record_error(&self, error: &str) {
        *lock(&self.last_error) = Some(error.to_string());
        self.own_error.store(true, Ordering::Relaxed);
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    pub fn stopped(&self) {
        self.state.store(AgentState::Stopped.as_u8(), Ordering::Relaxed);
        *lock(&self.current) = None;
    }

    pub fn view(&self) -> AgentView {
        AgentView {
            name: self.name.clone(),
            state: self.state(),
            current: lock(&self.current).clone(),
            mailbox_depth: self.queued.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            handled: self.handled.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            restarts: self.restarts(),
            last_error: self.last_error(),
            llm: lock(&self.llm).snapshot(),
        }
    }
}

fn dec(a: &AtomicU64) {
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(1)));
}

/// A deliberate crash of one agent at one round, `times` times (once by default): the
/// agent stops itself in the middle of handling the round's message, as it would on a
/// bug, and its supervisor restarts it. Used by the supervision tests and by operators
/// rehearsing recovery; a large `times` rehearses an agent that keeps failing.
#[derive(Debug, Clone, Default)]
pub struct Chaos {
    fail_round: Option<u32>,
    remaining: Arc<AtomicU32>,
}

impl Chaos {
    pub fn at_round(round: Option<u32>) -> Self {
        Self::repeated(round, 1)
    }
    pub fn repeated(round: Option<u32>, times: u32) -> Self {
        Self { fail_round: round, remaining: Arc::new(AtomicU32::new(times)) }
    }
    /// True on the configured round, as many times as configured.
    pub fn strikes(&self, round: u32) -> bool {
        self.fail_round == Some(round)
            && self.remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

/// Everything an agent needs that outlives a restart.
#[derive(Clone, Default)]
pub struct AgentHandle {
    /// This agent's slot on `board`.
    pub stats: Arc<AgentStats>,
    pub chaos: Chaos,
    /// The run's live state (pending approvals live there).
    pub board: Board,
}

impl AgentHandle {
    /// Every handler calls this first: it marks the message as being handled on the
    /// board and, when the injected fault strikes this round, logs it in `span`, stops
    /// the agent (its supervisor restarts it) and gives the error to answer with.
    pub fn crash<A>(
        &self,
        round: u32,
        agent: &'static str,
        message: &'static str,
        span: &tracing::Span,
        ctx: &mut actix::Context<A>,
    ) -> Option<AgentError>
    where
        A: actix::Actor<Context = actix::Context<A>>,
    {
        use actix::ActorContext;
        self.stats.handling();
        if !self.chaos.strikes(round) {
            return None;
        }
        span.in_scope(|| tracing::error!(agent, message, "injected crash"));
        ctx.stop();
        let error = AgentError::Crashed { agent, message };
        self.stats.record_error(&error.to_string());
        Some(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaos_strikes_once_at_its_round() {
        let c = Chaos::at_round(Some(2));
        assert!(!c.strikes(1));
        assert!(c.strikes(2));
        assert!(!c.strikes(2));
    }

    #[test]
    fn repeated_chaos_strikes_as_often_as_configured() {
        let c = Chaos::repeated(Some(1), 3);
        assert_eq!((0..5).filter(|_| c.strikes(1)).count(), 3);
    }

    #[test]
    fn restarts_are_counted_within_a_window() {
        let s = AgentStats::named("critic");
        s.restarted();
        s.restarted();
        assert_eq!(s.restarts_within(Duration::from_secs(60)), 2);
        assert_eq!(s.state(), AgentState::Restarting);
        s.sent("Review", 1);
        assert_eq!((s.view().mailbox_depth, s.state()), (1, AgentState::Busy));
        s.handling();
        s.answered(Some("boom"));
        let v = s.view();
        assert_eq!((v.mailbox_depth, v.in_flight, v.errors, v.state), (0, 0, 1, AgentState::Idle));
        assert_eq!(v.last_error.as_deref(), Some("boom"));
        s.sent("Review", 2);
        s.record_error("critic crashed while handling Review");
        s.answered(Some("Mailbox has closed"));
        assert_eq!(s.last_error().as_deref(), Some("critic crashed while handling Review"), "the agent's account wins");
    }
}
