//! The Skill agent: turns an Insight into SkillPatches and has the Skillhub apply them.

use crate::agent::{AgentError, AgentHandle};
use crate::protocol::Insight;
use crate::reasoning::skill::{evidence_base, rule_id, schema_context, to_rule, validate, vars, SkillAnswer};
use crate::reasoning::{ask_validated, Outcome, Reasoner};
use crate::strategy::learning::{patches, LearningSettings};
use actix::prelude::*;
use skillhub::{Applied, ApplyPatch, GetSkill, PatchOp, Provenance, Skill, SkillError, SkillPatch, TaskSpec};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, info_span, warn, Instrument};

/// Insight → Skill: learn from a round.
#[derive(Message, Clone)]
#[rtype(result = "Result<Vec<PatchOutcome>, AgentError>")]
pub struct Learn {
    pub task: Arc<TaskSpec>,
    /// The run the insight belongs to: patch ids carry it, so that a later run of the task
    /// (after a model change) is not taken for a repeat of an earlier one's rounds.
    pub run_id: String,
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
    /// The model that proposes rules, in `llm` mode.
    reasoner: Option<Reasoner>,
}

const HUB_TIMEOUT: Duration = Duration::from_secs(30);

impl SkillAgent {
    pub fn new(
        apply: Recipient<ApplyPatch>,
        get: Recipient<GetSkill>,
        settings: LearningSettings,
        handle: AgentHandle,
    ) -> Self {
        Self { apply, get, settings, handle, reasoner: None }
    }

    pub fn with_reasoner(mut self, reasoner: Option<Reasoner>) -> Self {
        self.reasoner = reasoner;
        self
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

/// The model's rules in place of the built-in learner's, when its answer is valid (which
/// includes every rule being supported by cited experiments); the rest of the plan
/// (baseline, priors, retirements) is measured fact and stays.
async fn with_model_rules(
    r: &Reasoner,
    msg: &Learn,
    skill: &Skill,
    s: &LearningSettings,
    plan: Vec<SkillPatch>,
) -> Vec<SkillPatch> {
    let insight = &msg.insight;
    if insight.observations.is_empty() {
        info!(reason = "nothing measured yet: no experiment to cite", "model not asked for rules");
        return plan;
    }
    let base = evidence_base(insight, s.rule_z);
    let request = r.request::<SkillAnswer>(&vars(&msg.task, insight, skill), &schema_context(&msg.task, &base));
    let (task, round) = (msg.task.clone(), insight.round.round);
    let answer = match ask_validated(r, request, move |a: &SkillAnswer| validate(&task, &base, round, a)).await {
        Outcome::Valid(a) => a,
        Outcome::Fallback(_) => return plan,
    };
    let model = r.model();
    let mut out: Vec<SkillPatch> = plan.into_iter().filter(|p| !matches!(p.op, PatchOp::AppendRule(_))).collect();
    for (i, a) in answer.rules.iter().enumerate() {
        let rule = to_rule(rule_id(&msg.task, skill.version + 1, round, i, a), round, &model, a);
        let reason = format!("model-proposed rule supported by {}", a.evidence.join(", "));
        let id = format!("{}/r{round}/llm-rule-{}", msg.run_id, i + 1);
        out.push(SkillPatch::new(
            id,
            msg.task.id.clone(),
            reason,
            Provenance::new("skill", &model, Some(round)),
            PatchOp::AppendRule(rule),
        ));
    }
    out
}

/// No evidence, no rule: every rule, whoever wrote it, must cite experiments whose
/// measured effect supports it before the Skillhub sees it.
fn evidence_refusal(p: &SkillPatch, msg: &Learn, s: &LearningSettings) -> Option<PatchOutcome> {
    let PatchOp::AppendRule(rule) = &p.op else { return None };
    let e = evidence_base(&msg.insight, s.rule_z).check(rule).err()?;
    warn!(patch = %p.id, rule = %rule.id, reason = %e, "rule refused: the measurements do not support it");
    Some(PatchOutcome {
        patch_id: p.id.clone(),
        kind: p.op.kind().into(),
        reason: p.reason.clone(),
        result: Err(e.to_string()),
        duplicate: false,
    })
}

async fn learn(
    apply: Recipient<ApplyPatch>,
    get: Recipient<GetSkill>,
    s: LearningSettings,
    reasoner: Option<Reasoner>,
    msg: Learn,
) -> Result<Vec<PatchOutcome>, AgentError> {
    let skill = get
        .send(GetSkill { task_id: msg.task.id.clone() })
        .timeout(HUB_TIMEOUT)
        .await
        .map_err(hub_err)?
        .map_err(hub_err)?
        .ok_or_else(|| AgentError::Skillhub(format!("no skill for task {}", msg.task.id)))?;
    let mut plan = patches(&msg.task, &msg.run_id, &msg.insight, &skill, &s);
    if let Some(r) = &reasoner {
        plan = with_model_rules(r, &msg, &skill, &s, plan).await;
    }
    let mut out = Vec::new();
    for p in plan {
        if let Some(refused) = evidence_refusal(&p, &msg, &s) {
            out.push(refused);
            continue;
        }
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
        let work = learn(self.apply.clone(), self.get.clone(), self.settings.clone(), self.reasoner.clone(), msg)
            .instrument(span);
        Box::pin(fut::wrap_future(work))
    }
}
