//! What every agent actor shares: its error type, its restart counter and the fault
//! injection that proves supervision works.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

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

/// Counters an agent keeps across restarts, shared with the runtime for the summary.
#[derive(Debug, Default)]
pub struct AgentStats {
    pub restarts: AtomicU32,
}

impl AgentStats {
    pub fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
    }
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }
}

/// A deliberate crash of one agent at one round, once: the agent stops itself in the
/// middle of handling the round's message, as it would on a bug, and its supervisor
/// restarts it. Used by the supervision tests and by operators rehearsing recovery.
#[derive(Debug, Clone, Default)]
pub struct Chaos {
    fail_round: Option<u32>,
    fired: Arc<AtomicBool>,
}

impl Chaos {
    pub fn at_round(round: Option<u32>) -> Self {
        Self { fail_round: round, fired: Arc::new(AtomicBool::new(false)) }
    }
    /// True exactly once, on the configured round.
    pub fn strikes(&self, round: u32) -> bool {
        self.fail_round == Some(round) && !self.fired.swap(true, Ordering::SeqCst)
    }
}

/// Everything an agent needs that outlives a restart.
#[derive(Clone, Default)]
pub struct AgentHandle {
    pub stats: Arc<AgentStats>,
    pub chaos: Chaos,
}

impl AgentHandle {
    /// When the injected fault strikes this round: logs it in `span`, stops the agent
    /// (its supervisor restarts it) and gives the error to answer with.
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
        if !self.chaos.strikes(round) {
            return None;
        }
        span.in_scope(|| tracing::error!(agent, message, "injected crash"));
        ctx.stop();
        Some(AgentError::Crashed { agent, message })
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
}
