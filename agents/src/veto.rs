//! Extra reviewers: agents placed between the Critic and the Online agent that may veto
//! candidates the Critic accepted (the Cost agent is one). The coordinator asks each
//! reviewer in turn with [`Vet`], rejects the vetoed candidates with the reviewer's
//! reason, and journals the verdict only after every reviewer has answered, so a resumed
//! round neither asks again nor launches a vetoed arm.

use crate::agent::AgentError;
use crate::protocol::{Candidate, RoundRef, Verdict};
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use skillhub::TaskSpec;
use std::sync::Arc;

/// Coordinator → reviewer: the candidates the Critic (and earlier reviewers) accepted.
#[derive(Message, Clone)]
#[rtype(result = "Result<Vec<Veto>, AgentError>")]
pub struct Vet {
    pub task: Arc<TaskSpec>,
    pub round: RoundRef,
    pub accepted: Vec<Candidate>,
}

/// A reviewer's rejection of one candidate, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Veto {
    pub candidate_id: String,
    pub reason: String,
}

/// One extra reviewer as the coordinator holds it: its name (for the board, errors and
/// the verdict's reasons) and its mailbox.
#[derive(Clone)]
pub struct Reviewer {
    pub name: &'static str,
    pub to: Recipient<Vet>,
}

/// Rejects every accepted candidate that `vetoes` names, with `by`'s reason; vetoes of
/// candidates that were not accepted (or not proposed) change nothing. Returns how many
/// candidates were rejected.
pub fn apply_vetoes(verdict: &mut Verdict, by: &str, vetoes: &[Veto]) -> usize {
    let mut rejected = 0;
    for d in verdict.decisions.iter_mut().filter(|d| d.accepted) {
        if let Some(v) = vetoes.iter().find(|v| v.candidate_id == d.candidate.id) {
            d.accepted = false;
            d.reason = format!("vetoed by {by}: {}", v.reason);
            tracing::info!(candidate = %d.candidate.id, reviewer = by, reason = %v.reason, "vetoed");
            rejected += 1;
        }
    }
    rejected
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Decision, Origin};

    fn decision(id: &str, accepted: bool) -> Decision {
        let candidate =
            Candidate { id: id.into(), config: Default::default(), hypothesis: String::new(), origin: Origin::Random };
        Decision { candidate, accepted, reason: "critic's".into() }
    }

    #[test]
    fn only_accepted_candidates_named_by_a_veto_are_rejected() {
        let round = RoundRef { task_id: "t".into(), round: 1 };
        let mut v = Verdict { round, decisions: vec![decision("a", true), decision("b", true), decision("c", false)] };
        let vetoes = [
            Veto { candidate_id: "b".into(), reason: "too slow".into() },
            Veto { candidate_id: "c".into(), reason: "too slow".into() },
            Veto { candidate_id: "zz".into(), reason: "unknown".into() },
        ];
        assert_eq!(apply_vetoes(&mut v, "cost", &vetoes), 1);
        let state: Vec<_> = v.decisions.iter().map(|d| (d.candidate.id.as_str(), d.accepted)).collect();
        assert_eq!(state, [("a", true), ("b", false), ("c", false)]);
        assert_eq!(v.decisions[1].reason, "vetoed by cost: too slow");
        assert_eq!(v.decisions[2].reason, "critic's", "a rejected candidate keeps the Critic's reason");
    }
}
