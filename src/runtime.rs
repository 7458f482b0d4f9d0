//! Wiring and supervision: opens the one database, builds the platform, starts every
//! agent under an actix `Supervisor`, and hands the coordinator their recipients.

use crate::settings::{PlatformKind, Settings};
use crate::status::StatusServer;
use crate::summary::{self, RunSummary};
use actix::Supervisor;
use agents::actor::ActorAgent;
use agents::agent::{AgentHandle, Chaos};
use agents::board::Board;
use agents::coordinator::{history, Coordinator, CoordinatorError, Peers, RoundReport, RunPlan};
use agents::critic::CriticAgent;
use agents::insight::InsightAgent;
use agents::journal::{Journal, JournalError};
use agents::online::OnlineAgent;
use agents::platform::{check_task, HttpPlatform, Platform, PlatformError};
use agents::reasoning::{build_reasoner, Reasoner, ReasoningError};
use agents::skill::SkillAgent;
use skillhub::{seed_skills, skill_from_task, PatchOp, Provenance, SkillPatch, SkillStore, Skillhub, TaskSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

pub const AGENT_NAMES: [&str; 5] = ["actor", "critic", "online", "insight", "skill"];

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot open the database at `{path}`: {reason}; choose a writable --db path (and make sure no other rectune is using it)")]
    Database { path: String, reason: String },
    #[error("another rectune process is using the database at `{0}`; wait for it to finish (or stop it) or choose another --db")]
    Locked(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("skillhub: {0}")]
    Skillhub(#[from] skillhub::SkillError),
    #[error("platform: {0}")]
    Platform(#[from] PlatformError),
    #[error("{0}")]
    Task(String),
    #[error("the database already holds a run of task `{0}` with a different task definition; use another --db to start a new run")]
    SpecChanged(String),
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
    #[error(transparent)]
    Reasoning(#[from] ReasoningError),
}

/// Each agent's model, by agent name; agents that think built-in have none.
type Reasoners = BTreeMap<&'static str, Reasoner>;

/// Builds the model client of every agent configured to use one (settings, key and
/// prompt were checked when the settings loaded; this only fails on what changed since).
fn reasoners(settings: &Settings) -> Result<Reasoners, RunError> {
    let mut out = BTreeMap::new();
    for c in settings.reasoning() {
        if let Some(r) = build_reasoner(&c)? {
            info!(agent = c.agent, reasoning = c.mode, llm = %r.model(), "agent thinks with a model, validated, built-in as the fallback");
            out.insert(c.agent, r);
        }
    }
    Ok(out)
}

/// Opens the process's one sled database.
pub fn open_db(path: &Path) -> Result<sled::Db, RunError> {
    let err = |reason: String| RunError::Database { path: path.display().to_string(), reason };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    sled::Config::new().path(path).open().map_err(|e| match e {
        // sled reports a held lock only in its message.
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            RunError::Locked(path.display().to_string())
        }
        e => err(e.to_string()),
    })
}

pub fn platform(settings: &Settings) -> Result<Arc<dyn Platform>, RunError> {
    match settings.platform.kind {
        PlatformKind::Sim => {
            let scenario =
                crate::platform::sim::Scenario::load(&settings.platform.scenario, &settings.platform.model_version)
                    .map_err(|e| RunError::Task(format!("platform.scenario: {e}")))?;
            Ok(Arc::new(crate::platform::sim::SimPlatform::new(scenario, Default::default())))
        }
        PlatformKind::Http => Ok(Arc::new(HttpPlatform::new(&settings.platform.http).map_err(RunError::Task)?)),
    }
}

/// Loads the seed skills once and makes sure the task has a skill.
async fn prepare_skills(store: &SkillStore, task: &TaskSpec) -> Result<(), RunError> {
    let loaded = store.load_seeds(&seed_skills()?).await?;
    if loaded > 0 {
        info!(loaded, "seed skills loaded into a fresh Skillhub");
    }
    if store.get(&task.id)?.is_none() {
        let patch = SkillPatch {
            id: format!("create/{}", task.id),
            task_id: task.id.clone(),
            reason: "first run of a task without a seed skill".into(),
            author: Provenance::new("runtime", "builtin", None),
            op: PatchOp::Create(Box::new(skill_from_task(task))),
        };
        store.apply(&patch).await?;
    }
    Ok(())
}

/// What a run measures on. Measurements on another platform, scenario or model version
/// do not describe this one, so a change of it starts a new run (see [`run_identity`]).
pub fn platform_identity(settings: &Settings) -> String {
    let p = &settings.platform;
    match p.kind {
        PlatformKind::Sim => format!("sim:{}:{}", p.scenario, p.model_version),
        PlatformKind::Http => format!("http:{}", p.http.url),
    }
}

/// Ties the run to its journal: the same task definition on the same platform resumes,
/// another definition is refused, and another platform (e.g. the model version after a
/// launch) archives the earlier run and starts a new one, which warm-starts from the
/// task's skill instead of resuming measurements that no longer hold.
async fn run_identity(journal: &Journal, settings: &Settings) -> Result<String, RunError> {
    let task = &settings.task;
    let platform = platform_identity(settings);
    match journal.get_run::<String>(&task.id, "platform")? {
        Some(old) if old != platform => {
            let label = journal.get_run::<String>(&task.id, "run_id")?.unwrap_or_else(|| format!("{}@{old}", task.id));
            let archived = journal.archive(&task.id, &label).await?;
            info!(previous = %old, now = %platform, archived, previous_run = %label,
                reason = "the platform or model changed: earlier measurements do not describe it; new run, warm-started from the skill",
                "new run of the task");
            journal.put_run(&task.id, "platform", &platform).await?;
        }
        Some(_) => {}
        None => journal.put_run(&task.id, "platform", &platform).await?,
    }
    let mut comparable = task.clone();
    comparable.budget.rounds = 0;
    match journal.get_run::<TaskSpec>(&task.id, "spec")? {
        Some(old) if old != comparable => return Err(RunError::SpecChanged(task.id.clone())),
        Some(_) => {}
        None => journal.put_run(&task.id, "spec", &comparable).await?,
    }
    if let Some(id) = journal.get_run::<String>(&task.id, "run_id")? {
        return Ok(id);
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let id = format!("{}-{}-{nanos:x}", task.id, settings.run.seed);
    journal.put_run(&task.id, "run_id", &id).await?;
    Ok(id)
}

/// The five agents, and the optional ones the configuration switches on.
fn agent_names(settings: &Settings) -> Vec<&'static str> {
    AGENT_NAMES.iter().copied().chain(settings.agents.cost.enabled.then_some("cost")).collect()
}

fn handles(settings: &Settings, board: &Board) -> BTreeMap<&'static str, AgentHandle> {
    agent_names(settings)
        .iter()
        .map(|name| {
            let round = (settings.chaos.agent.as_deref() == Some(*name)).then_some(settings.chaos.round).flatten();
            let chaos = Chaos::repeated(round, settings.chaos.times.unwrap_or(1));
            (*name, AgentHandle { stats: board.agent(name), chaos, board: board.clone() })
        })
        .collect()
}

/// Turns SIGINT/SIGTERM into a graceful stop: the board records the signal and the
/// coordinator finishes (or parks) the current step, then the run returns normally.
#[cfg(unix)]
fn watch_signals(board: Board) -> Option<actix_rt::task::JoinHandle<()>> {
    use actix_rt::signal::unix::{signal, SignalKind};
    use futures::future::{select, Either};
    let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            warn!(error = %e, "cannot watch SIGINT/SIGTERM: a signal ends the run abruptly (the journal still resumes it)");
            return None;
        }
    };
    Some(actix_rt::spawn(async move {
        loop {
            let name = match select(Box::pin(term.recv()), Box::pin(int.recv())).await {
                Either::Left((Some(()), _)) => "SIGTERM",
                Either::Right((Some(()), _)) => "SIGINT",
                _ => return,
            };
            warn!(signal = name, "signal received: stopping after the current step (a second signal parks it at once)");
            board.request_shutdown(name);
        }
    }))
}

#[cfg(not(unix))]
fn watch_signals(board: Board) -> Option<actix_rt::task::JoinHandle<()>> {
    Some(actix_rt::spawn(async move {
        while actix_rt::signal::ctrl_c().await.is_ok() {
            warn!(signal = "ctrl-c", "signal received: stopping after the current step");
            board.request_shutdown("ctrl-c");
        }
    }))
}

/// Starts the five agents and the Skillhub, each under its own supervisor.
fn start_agents(
    settings: &Settings,
    task: Arc<TaskSpec>,
    journal: &Journal,
    store: SkillStore,
    platform: Arc<dyn Platform>,
    h: &BTreeMap<&'static str, AgentHandle>,
    models: &Reasoners,
) -> Peers {
    let a = &settings.agents;
    // A restarted agent gets the same reasoner back, so its counters cover the whole run.
    let model = |agent: &str| models.get(agent).cloned();
    let hub = Supervisor::start(move |_| Skillhub::new(store.clone()));
    let (reasoning, ha, ra) = (a.actor.reasoning, h["actor"].clone(), model("actor"));
    let actor = Supervisor::start(move |_| ActorAgent::new(reasoning, ha.clone()).with_reasoner(ra.clone()));
    let (cs, hc, rc) = (a.critic.settings.clone(), h["critic"].clone(), model("critic"));
    let critic = Supervisor::start(move |_| CriticAgent::new(cs.clone(), hc.clone()).with_reasoner(rc.clone()));
    let (os, ho, jo, ro) = (a.online.settings.clone(), h["online"].clone(), journal.clone(), model("online"));
    let online = Supervisor::start(move |_| {
        OnlineAgent::new(platform.clone(), jo.clone(), os.clone(), ho.clone()).with_reasoner(ro.clone())
    });
    let (is, hi, ji, ri) = (a.insight.settings.clone(), h["insight"].clone(), journal.clone(), model("insight"));
    let insight = Supervisor::start(move |_| {
        InsightAgent::new(task.clone(), ji.clone(), is.clone(), hi.clone()).with_reasoner(ri.clone())
    });
    let (ls, hs, hub_a, hub_g, rs) = (
        a.skill.settings.clone(),
        h["skill"].clone(),
        hub.clone().recipient(),
        hub.clone().recipient(),
        model("skill"),
    );
    let skill = Supervisor::start(move |_| {
        SkillAgent::new(hub_a.clone(), hub_g.clone(), ls.clone(), hs.clone()).with_reasoner(rs.clone())
    });
    let mut vetoes = Vec::new();
    if a.cost.enabled {
        let (cm, hm) = (a.cost.clone(), h.get("cost").cloned().unwrap_or_default());
        let cost = Supervisor::start(move |_| agents::cost::CostAgent::new(cm.clone(), hm.clone()));
        vetoes.push(agents::veto::Reviewer { name: "cost", to: cost.recipient() });
    }
    Peers {
        actor: actor.recipient(),
        critic: critic.recipient(),
        online: online.recipient(),
        insight: insight.recipient(),
        skill: skill.recipient(),
        skills: hub.recipient(),
        vetoes,
    }
}

/// Runs the configured task to the end of its budget (or convergence) and summarises it.
pub async fn run(settings: &Settings, on_round: impl FnMut(&RoundReport)) -> Result<RunSummary, RunError> {
    let board = Board::new(&agent_names(settings));
    let signals = watch_signals(board.clone());
    let result = run_on(settings, board, on_round).await;
    if let Some(s) = signals {
        s.abort();
    }
    result
}

async fn run_on(
    settings: &Settings,
    board: Board,
    mut on_round: impl FnMut(&RoundReport),
) -> Result<RunSummary, RunError> {
    let db = open_db(&settings.run.db)?;
    let journal = Journal::open(&db)?;
    let store = SkillStore::open(&db)?;
    // Building a simulator world is CPU work: keep it off the actix system thread.
    let platform_settings = settings.clone();
    let platform = actix_rt::task::spawn_blocking(move || platform(&platform_settings))
        .await
        .map_err(|e| RunError::Task(format!("platform worker failed: {e}")))??;
    check_task(&settings.task, platform.as_ref()).await.map_err(RunError::Task)?;
    let task = Arc::new(settings.task.clone());
    prepare_skills(&store, &task).await?;
    let run_id = run_identity(&journal, settings).await?;
    info!(run_id = %run_id, task = %task.id, "run starting");
    board.set_run(&run_id, &task);
    let status = StatusServer::start(&settings.status, board.clone(), journal.clone(), &settings.run.db)
        .map_err(|e| RunError::Task(e.to_string()))?;
    let h = handles(settings, &board);
    let models = reasoners(settings)?;
    for (agent, r) in &models {
        // `/status` and `/metrics` read each agent's model calls from its board slot.
        board.agent(agent).meter(r.calls());
    }
    let peers = start_agents(settings, task.clone(), &journal, store, platform.clone(), &h, &models);
    let plan = RunPlan {
        run_id,
        task: task.clone(),
        seed: settings.run.seed,
        step_timeout: Duration::from_secs(settings.run.step_timeout_s),
        proposal_factor: settings.run.proposal_factor,
        max_risk: settings.agents.critic.guardrail_risk_threshold,
    };
    let outcome = Coordinator::new(plan, peers, journal.clone())
        .with_board(board.clone())
        .with_supervision(settings.supervision)
        .run(&mut on_round)
        .await;
    if let Some(s) = status {
        s.stop().await;
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            // Every step was journaled (flushed) as it finished; flush once more so the
            // saved state is complete before the error is reported.
            let _ = skillhub::durable::flush(&db).await;
            return Err(e.into());
        }
    };
    let rounds = history(&journal, &task.id)?;
    let restarts = h.iter().map(|(n, h)| (n.to_string(), h.stats.restarts())).collect();
    let oracle = platform.oracle();
    let task_for_truth = task.clone();
    let mut summary = actix_rt::task::spawn_blocking(move || {
        summary::build(&task_for_truth, &outcome, &rounds, oracle.as_deref(), restarts)
    })
    .await
    .map_err(|e| RunError::Task(format!("summary worker failed: {e}")))?;
    summary.llm = models.iter().map(|(agent, r)| (agent.to_string(), summary::LlmReport::of(r))).collect();
    skillhub::durable::flush(&db)
        .await
        .map_err(|e| RunError::Database { path: settings.run.db.display().to_string(), reason: e.to_string() })?;
    Ok(summary)
}
