//! The Skill agent: turns an Insight into SkillPatches and has the Skillhub apply them.

use crate::agent::{AgentError, AgentHandle};
use crate::protocol::Insight;
use crate::strategy::learning::{patches, LearningSettings};
use actix::prelude::*;
use skillhub::{Applied, ApplyPatch, GetSkill, SkillError, TaskSpec};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, info_span, warn, Instrument};

/// Insight → Skill: learn from a round.
#[derive(Message, Clone)]
#[rtype(result = "Result<Vec<PatchOutcome>, AgentError>")]
pub struct Learn {
    pub task: Arc<TaskSpec>,
    pub insight: Arc<Insight>,
}

/// What became of one patch.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PatchOutcome {
    pub patch_id: String,
    pub kind: String,
    pub reason: String,
    /// The skill version it produced, or why the Skillhub refused it.
    pub result: Result<u64, String>,
    pub duplicate: bool,
}

pub struct SkillAgent {
    apply: Recipient<ApplyPatch>,
    get: Recipient<GetSkill>,
    settings: LearningSettings,
    handle: AgentHandle,
}

const HUB_TIMEOUT: Duration = Duration::from_secs(30);

impl SkillAgent {
    pub fn new(
        apply: Recipient<ApplyPatch>,
        get: Recipient<GetSkill>,
        settings: LearningSettings,
        handle: AgentHandle,
    ) -> Self {
        Self { apply, get, settings, handle }
    }
}

impl Actor for SkillAgent {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        info!(agent = "skill", "agent started");
    }
}

impl Supervised for SkillAgent {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.handle.stats.restarted();
        info!(agent = "skill", "agent restarting; skills live in the Skillhub");
    }
}

fn hub_err(e: impl std::fmt::Display) -> AgentError {
    AgentError::Skillhub(e.to_string())
}

async fn learn(
    apply: Recipient<ApplyPatch>,
    get: Recipient<GetSkill>,
    s: LearningSettings,
    msg: Learn,
) -> Result<Vec<PatchOutcome>, AgentError> {
    let skill = get
        .send(GetSkill { task_id: msg.task.id.clone() })
        .timeout(HUB_TIMEOUT)
        .await
        .map_err(hub_err)?
        .map_err(hub_err)?
        .ok_or_else(|| AgentError::Skillhub(format!("no skill for task {}", msg.task.id)))?;
    let mut out = Vec::new();
    for p in patches(&msg.task, &msg.insight, &skill, &s) {
        let (patch_id, kind, reason) = (p.id.clone(), p.op.kind().to_string(), p.reason.clone());
        let answer: Result<Applied, SkillError> =
            apply.send(ApplyPatch(p)).timeout(HUB_TIMEOUT).await.map_err(hub_err)?;
        let outcome = match answer {
            Ok(a) => {
                info!(patch = %patch_id, kind = %kind, version = a.version, duplicate = a.duplicate, reason = %reason, "skill patch applied");
                PatchOutcome { patch_id, kind, reason, result: Ok(a.version), duplicate: a.duplicate }
            }
            Err(e) => {
                warn!(patch = %patch_id, kind = %kind, error = %e, "skill patch refused by the Skillhub");
                PatchOutcome { patch_id, kind, reason, result: Err(e.to_string()), duplicate: false }
            }
        };
        out.push(outcome);
    }
    Ok(out)
}

impl Handler<Learn> for SkillAgent {
    type Result = ResponseActFuture<Self, Result<Vec<PatchOutcome>, AgentError>>;

    fn handle(&mut self, msg: Learn, ctx: &mut Context<Self>) -> Self::Result {
        let span = info_span!("message", agent = "skill", kind = "Learn", round = %msg.insight.round);
        if let Some(e) = self.handle.crash(msg.insight.round.round, "skill", "Learn", &span, ctx) {
            return Box::pin(fut::ready(Err(e)));
        }
        let work = learn(self.apply.clone(), self.get.clone(), self.settings.clone(), msg).instrument(span);
        Box::pin(fut::wrap_future(work))
    }
}
