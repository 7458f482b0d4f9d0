//! The Skillhub actor: the one writer of skills, serving them to the other agents.
//!
//! Patches are committed in mailbox order inside the handler, so two patches from one
//! sender apply in the order sent; the reply waits for the disk flush in a future,
//! so the flush never blocks the arbiter. Reads see committed patches at once, even
//! before their flush completes.
//!
//! Run it under `actix::Supervisor`: its only state is the store handle, so a restart
//! rebuilds nothing and loses nothing.

use crate::error::SkillError;
use crate::patch::SkillPatch;
use crate::skill::Skill;
use crate::store::{Applied, HistoryEntry, SkillStore};
use actix::prelude::*;
use tracing::{error, info, info_span, warn, Instrument, Span};

pub struct Skillhub {
    store: SkillStore,
}

impl Skillhub {
    pub fn new(store: SkillStore) -> Self {
        Self { store }
    }
}

impl Actor for Skillhub {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        info!(actor = "skillhub", "started");
    }
}

impl Supervised for Skillhub {
    fn restarting(&mut self, _: &mut Self::Context) {
        warn!(actor = "skillhub", "restarting; the store handle is kept, so no state is rebuilt");
    }
}

/// Validate and persist a patch; the reply comes after the flush.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Applied, SkillError>")]
pub struct ApplyPatch(pub SkillPatch);

/// The current version of one task's skill.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Option<Skill>, SkillError>")]
pub struct GetSkill {
    pub task_id: String,
}

/// Every skill, deprecated ones included, ordered by task id.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<Skill>, SkillError>")]
pub struct ListSkills;

/// The patches that produced each version of one task's skill, oldest first.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<HistoryEntry>, SkillError>")]
pub struct GetHistory {
    pub task_id: String,
}

/// A root span per message, linked to the sender's span, so a long run does not
/// grow one endless trace.
fn message_span(span: Span) -> Span {
    span.follows_from(Span::current());
    span
}

impl Handler<ApplyPatch> for Skillhub {
    type Result = ResponseFuture<Result<Applied, SkillError>>;

    fn handle(&mut self, ApplyPatch(patch): ApplyPatch, _: &mut Self::Context) -> Self::Result {
        let span = message_span(info_span!(
            parent: None,
            "skillhub.apply_patch",
            patch = %patch.id,
            task = %patch.task_id,
            op = patch.op.kind()
        ));
        let committed = span.in_scope(|| self.store.commit(&patch));
        let store = self.store.clone();
        let reply = async move {
            let result = match committed {
                Ok(applied) => store.flush().await.map(|()| applied),
                Err(e) => Err(e),
            };
            log_outcome(&patch, &result);
            result
        };
        Box::pin(reply.instrument(span))
    }
}

fn log_outcome(patch: &SkillPatch, result: &Result<Applied, SkillError>) {
    let (id, task, op, reason) = (&patch.id, &patch.task_id, patch.op.kind(), &patch.reason);
    match result {
        Ok(Applied { version, duplicate: false }) => {
            info!(patch = %id, task = %task, op, reason = %reason, version, "skill patch applied")
        }
        Ok(Applied { version, duplicate: true }) => {
            info!(patch = %id, task = %task, op, reason = %reason, version, "duplicate skill patch ignored")
        }
        Err(SkillError::Rejected(e)) => {
            warn!(patch = %id, task = %task, op, reason = %reason, error = %e, "skill patch rejected")
        }
        Err(e) => error!(patch = %id, task = %task, op, reason = %reason, error = %e, "skill patch not stored"),
    }
}

impl Handler<GetSkill> for Skillhub {
    type Result = Result<Option<Skill>, SkillError>;

    fn handle(&mut self, msg: GetSkill, _: &mut Self::Context) -> Self::Result {
        let _span = message_span(info_span!(parent: None, "skillhub.get_skill", task = %msg.task_id)).entered();
        self.store.get(&msg.task_id)
    }
}

impl Handler<ListSkills> for Skillhub {
    type Result = Result<Vec<Skill>, SkillError>;

    fn handle(&mut self, _: ListSkills, _: &mut Self::Context) -> Self::Result {
        let _span = message_span(info_span!(parent: None, "skillhub.list_skills")).entered();
        self.store.list()
    }
}

impl Handler<GetHistory> for Skillhub {
    type Result = Result<Vec<HistoryEntry>, SkillError>;

    fn handle(&mut self, msg: GetHistory, _: &mut Self::Context) -> Self::Result {
        let _span = message_span(info_span!(parent: None, "skillhub.get_history", task = %msg.task_id)).entered();
        self.store.history(&msg.task_id)
    }
}
