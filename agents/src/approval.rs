//! The human gate: with `agents.online.approval = "manual"` the Online agent journals the
//! launch request, then waits for a person's decision before the platform sees it.
//!
//! An approval's id is `<task>-r<round>`, stable across restarts: the launch request is
//! in the journal, so a restarted run waits for the same id again. A decision (who, why,
//! when) is journaled, flushed, before the waiting agent hears of it, so it survives a
//! crash and is made once: a second decision for the same id is refused.

use crate::board::{lock, now_ms, Board};
use crate::journal::{Journal, JournalError, Step};
use crate::readout::{ArmPlan, Role};
use serde::{Deserialize, Serialize};
use skillhub::Configuration;

/// Whether experiments launch on their own or wait for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalMode {
    #[default]
    Auto,
    Manual,
}

/// One arm of an experiment waiting for approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalArm {
    pub arm_id: String,
    pub role: Role,
    pub candidate_id: Option<String>,
    pub traffic: f64,
    pub config: Configuration,
}

/// An experiment prepared (its launch request journaled) and waiting for a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: String,
    pub task_id: String,
    pub round: u32,
    /// The idempotency key the launch will use.
    pub key: String,
    pub experiment: String,
    pub arms: Vec<ApprovalArm>,
    pub units_per_arm: u64,
    pub sizing: String,
    pub requested_ms: u64,
}

/// A person's decision, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub id: String,
    pub approved: bool,
    pub by: String,
    pub reason: Option<String>,
    pub at_ms: u64,
}

impl ApprovalDecision {
    pub fn new(req: &ApprovalRequest, approved: bool, by: &str, reason: Option<String>) -> Self {
        Self { id: req.id.clone(), approved, by: by.to_string(), reason, at_ms: now_ms() }
    }
}

pub fn approval_id(task_id: &str, round: u32) -> String {
    format!("{task_id}-r{round}")
}

impl ApprovalRequest {
    pub fn new(
        task_id: &str,
        round: u32,
        key: &str,
        experiment: &str,
        plan: &[ArmPlan],
        units_per_arm: u64,
        sizing: &str,
    ) -> Self {
        Self {
            id: approval_id(task_id, round),
            task_id: task_id.to_string(),
            round,
            key: key.to_string(),
            experiment: experiment.to_string(),
            arms: plan
                .iter()
                .map(|a| ApprovalArm {
                    arm_id: a.arm_id.clone(),
                    role: a.role,
                    candidate_id: a.candidate_id.clone(),
                    traffic: a.traffic,
                    config: a.config.clone(),
                })
                .collect(),
            units_per_arm,
            sizing: sizing.to_string(),
            requested_ms: now_ms(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no experiment `{id}` is waiting for approval (pending: {pending}); `rectune status` lists them")]
    NotPending { id: String, pending: String },
    #[error("experiment `{id}` was already {what} by {by}; a decision is made once")]
    AlreadyDecided { id: String, what: &'static str, by: String },
    #[error("experiment `{0}` is being decided by another request right now")]
    Busy(String),
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Records a person's decision on a pending experiment: journaled and flushed first,
/// then handed to the waiting Online agent.
pub async fn decide(
    board: &Board,
    journal: &Journal,
    id: &str,
    approved: bool,
    by: &str,
    reason: Option<String>,
) -> Result<ApprovalDecision, ApprovalError> {
    let by = by.trim();
    if by.is_empty() {
        return Err(ApprovalError::Invalid("who decides is required (--by, or $USER)"));
    }
    let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if !approved && reason.is_none() {
        return Err(ApprovalError::Invalid("a rejection needs a reason (--reason)"));
    }
    let req = match board.begin_decision(id) {
        Ok(req) => req,
        Err(busy @ ApprovalError::Busy(_)) => return Err(busy),
        Err(not_pending) => return Err(already_decided(board, journal, id)?.unwrap_or(not_pending)),
    };
    let decision = ApprovalDecision::new(&req, approved, by, reason);
    if let Err(e) = journal.put(&req.task_id, req.round, Step::Approval, &decision).await {
        board.end_decision(id, None);
        return Err(e.into());
    }
    let what = if approved { "approved" } else { "rejected" };
    tracing::info!(
        approval = %id,
        decision = what,
        by = %decision.by,
        reason = decision.reason.as_deref().unwrap_or(""),
        "experiment {what}"
    );
    board.end_decision(id, Some(decision.clone()));
    Ok(decision)
}

/// The clearer error for an id that is not pending because it was decided already.
fn already_decided(board: &Board, journal: &Journal, id: &str) -> Result<Option<ApprovalError>, JournalError> {
    let task = board.run_view().task_id;
    let Some(round) = id.strip_prefix(&format!("{task}-r")).and_then(|r| r.parse::<u32>().ok()) else {
        return Ok(None);
    };
    Ok(journal.get::<ApprovalDecision>(&task, round, Step::Approval)?.map(|d| ApprovalError::AlreadyDecided {
        id: id.to_string(),
        what: if d.approved { "approved" } else { "rejected" },
        by: d.by,
    }))
}

/// Waits for the decision on `req` (the Online agent's side). A decision already in the
/// journal (made before a restart) is returned at once.
pub async fn wait(
    board: &Board,
    journal: &Journal,
    req: ApprovalRequest,
    stats: &crate::agent::AgentStats,
) -> Result<ApprovalDecision, JournalError> {
    let (task, round, id) = (req.task_id.clone(), req.round, req.id.clone());
    if let Some(d) = journal.get::<ApprovalDecision>(&task, round, Step::Approval)? {
        board.forget_approval(&id);
        return Ok(d);
    }
    let rx = board.await_approval(req);
    // A decision journaled between the check above and the registration would never be
    // delivered to this wait: look once more now that the wait is registered.
    if let Some(d) = journal.get::<ApprovalDecision>(&task, round, Step::Approval)? {
        board.forget_approval(&id);
        return Ok(d);
    }
    stats.set_phase(&format!("awaiting approval {id}"));
    let decision = rx.await;
    stats.set_phase("handling");
    match decision {
        Ok(d) => Ok(d),
        // Replaced by a newer wait for the same id: the decision went there; read it.
        Err(_) => journal.get::<ApprovalDecision>(&task, round, Step::Approval)?.ok_or_else(|| {
            JournalError::Storage(sled::Error::Unsupported(format!("the wait for approval {id} was cancelled")))
        }),
    }
}

impl Board {
    /// Marks a pending approval as being decided, so exactly one decision is made.
    pub(crate) fn begin_decision(&self, id: &str) -> Result<ApprovalRequest, ApprovalError> {
        let mut approvals = lock(self.approvals_map());
        let pending = approvals.keys().cloned().collect::<Vec<_>>().join(", ");
        match approvals.get_mut(id) {
            None => Err(ApprovalError::NotPending {
                id: id.to_string(),
                pending: if pending.is_empty() { "none".into() } else { pending },
            }),
            Some(p) if p.deciding => Err(ApprovalError::Busy(id.to_string())),
            Some(p) => {
                p.deciding = true;
                Ok(p.request.clone())
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn request(id: &str) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            task_id: "t".into(),
            round: 1,
            key: "k".into(),
            experiment: "t/round-1".into(),
            arms: vec![],
            units_per_arm: 10,
            sizing: String::new(),
            requested_ms: 0,
        }
    }

    fn journal() -> Journal {
        Journal::open(&sled::Config::new().temporary(true).open().unwrap()).unwrap()
    }

    #[actix_rt::test]
    async fn a_decision_is_journaled_delivered_and_made_once() {
        let (board, journal) = (Board::new(&["online"]), journal());
        let mut run = skillhub::TaskSpec { id: "t".into(), ..crate::fixtures::task(&["a"], vec![]) };
        run.budget.rounds = 3;
        board.set_run("run", &run);
        let stats = board.agent("online");
        let waiting = {
            let (b, j, s) = (board.clone(), journal.clone(), stats.clone());
            actix_rt::spawn(async move { wait(&b, &j, request("t-r1"), &s).await })
        };
        for _ in 0..200 {
            if board.awaiting_approval() {
                break;
            }
            actix::clock::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(board.awaiting_approval());
        let err = decide(&board, &journal, "t-r1", false, "ann", None).await.unwrap_err();
        assert!(err.to_string().contains("reason"), "{err}");
        let d = decide(&board, &journal, "t-r1", false, "ann", Some("too risky".into())).await.unwrap();
        assert!(!d.approved);
        assert_eq!(waiting.await.unwrap().unwrap(), d);
        let again = decide(&board, &journal, "t-r1", true, "bob", None).await.unwrap_err();
        assert!(matches!(again, ApprovalError::AlreadyDecided { .. }), "{again}");
        assert_eq!(journal.get::<ApprovalDecision>("t", 1, Step::Approval).unwrap(), Some(d.clone()));
        // A restarted agent finds the decision in the journal.
        assert_eq!(wait(&board, &journal, request("t-r1"), &stats).await.unwrap(), d);
        assert!(!board.awaiting_approval());
    }
}
