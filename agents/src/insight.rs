//! The Insight agent: keeps the memory of every result and turns it into the elites,
//! sensitivities, patterns and convergence signal the other agents act on.

use crate::agent::{AgentError, AgentHandle};
use crate::journal::{Journal, Step};
use crate::protocol::{ExperimentResult, Insight, Note};
use crate::reasoning::insight::{builtin_notes, facts, schema_context, validate, vars, InsightAnswer};
use crate::reasoning::{ask_validated, Outcome, Reasoner};
use crate::strategy::memory::{analyse, InsightSettings};
use actix::prelude::*;
use skillhub::TaskSpec;
use std::sync::Arc;
use tracing::{info, info_span, warn, Instrument};

/// Online → Insight (through the coordinator): learn from one experiment.
#[derive(Message, Clone)]
#[rtype(result = "Result<Insight, AgentError>")]
pub struct Analyse(pub ExperimentResult);

pub struct InsightAgent {
    task: Arc<TaskSpec>,
    journal: Journal,
    settings: InsightSettings,
    handle: AgentHandle,
    /// Every result read so far, in round order: the whole state, rebuilt from the
    /// journal on (re)start.
    results: Vec<ExperimentResult>,
    /// The model that words the notes, in `llm` mode; the numbers are always built-in.
    reasoner: Option<Reasoner>,
}

impl InsightAgent {
    pub fn new(task: Arc<TaskSpec>, journal: Journal, settings: InsightSettings, handle: AgentHandle) -> Self {
        Self { task, journal, settings, handle, results: Vec::new(), reasoner: None }
    }

    pub fn with_reasoner(mut self, reasoner: Option<Reasoner>) -> Self {
        self.reasoner = reasoner;
        self
    }

    fn remember(&mut self, r: ExperimentResult) {
        self.results.retain(|x| x.round.round != r.round.round);
        self.results.push(r);
        self.results.sort_by_key(|x| x.round.round);
    }
}

impl Actor for InsightAgent {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        match self.journal.all::<ExperimentResult>(&self.task.id, Step::Result) {
            Ok(all) => self.results = all.into_iter().map(|(_, r)| r).collect(),
            Err(e) => warn!(agent = "insight", error = %e, "could not rebuild memory from the journal; starting empty"),
        }
        info!(agent = "insight", task = %self.task.id, results = self.results.len(), "agent started; memory rebuilt from the journal");
    }
}

impl Supervised for InsightAgent {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.handle.stats.restarted();
        self.results.clear();
        info!(agent = "insight", "agent restarting; memory will be rebuilt from the journal");
    }
}

impl Handler<Analyse> for InsightAgent {
    type Result = ResponseActFuture<Self, Result<Insight, AgentError>>;

    fn handle(&mut self, Analyse(result): Analyse, ctx: &mut Context<Self>) -> Self::Result {
        let span = info_span!("message", agent = "insight", kind = "Analyse", round = %result.round);
        if let Some(e) = self.handle.crash(result.round.round, "insight", "Analyse", &span, ctx) {
            return Box::pin(fut::ready(Err(e)));
        }
        self.remember(result);
        let (task, results, settings) = (self.task.clone(), self.results.clone(), self.settings.clone());
        let reasoner = self.reasoner.clone();
        let work = async move {
            let task2 = task.clone();
            let mut insight = actix_rt::task::spawn_blocking(move || analyse(&task2, &results, &settings))
                .await
                .map_err(|e| AgentError::Invalid(format!("analysis worker failed: {e}")))?;
            insight.notes = notes(reasoner.as_ref(), &task, &insight).await;
            log_insight(&insight);
            Ok(insight)
        }
        .instrument(span);
        Box::pin(fut::wrap_future(work))
    }
}

/// The insight's facts in words: the model's notes when it has a valid answer, the
/// built-in wording of each fact otherwise.
async fn notes(reasoner: Option<&Reasoner>, task: &TaskSpec, insight: &Insight) -> Vec<Note> {
    let facts = facts(insight);
    let (Some(r), false) = (reasoner, facts.is_empty()) else { return builtin_notes(&facts) };
    let request = r.request::<InsightAnswer>(&vars(task, insight, &facts), &schema_context(&facts));
    let known = facts.clone();
    match ask_validated(r, request, move |a: &InsightAnswer| validate(&known, a)).await {
        Outcome::Valid(a) => {
            let model = r.model();
            a.notes.into_iter().map(|n| Note { fact: n.fact, text: n.text, author: model.clone() }).collect()
        }
        Outcome::Fallback(_) => builtin_notes(&facts),
    }
}

fn log_insight(i: &Insight) {
    for n in &i.notes {
        info!(fact = %n.fact, author = %n.author, note = %n.text, "insight note");
    }
    if let Some(why) = &i.rolled_back {
        tracing::warn!(reason = %why, back_to = i.incumbent.candidate_id.as_deref().unwrap_or("baseline"), "incumbent rolled back");
    }
    if let Some(id) = &i.shipped {
        info!(candidate = %id, reason = "significantly better than the control and non-inferior on every guardrail", "new incumbent");
    }
    let top: Vec<String> = i.sensitivity.iter().map(|(p, s)| format!("{p}={s:.2}")).collect();
    info!(
        elites = i.elites.len(),
        observations = i.observations.len(),
        sensitivity = %top.join(" "),
        sensitivity_basis = %i.sensitivity_basis,
        converged = i.converged,
        reason = %i.convergence_reason,
        "memory updated"
    );
}
