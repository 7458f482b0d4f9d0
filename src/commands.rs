//! What each subcommand does; `main` only parses and reports.

use crate::cli::{AnalyzeArgs, Cli, Command, LogsArgs, PlatformAction, RunArgs, ServeArgs, SkillsAction};
use crate::runtime::{self, RunError};
use crate::settings::{Overrides, Settings, SettingsError};
use crate::summary;
use crate::telemetry;
use skillhub::{render_markdown, seed_skills, SkillStore};
use std::path::{Path, PathBuf};

/// Every way a command can fail, each a one-line message for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Telemetry(#[from] telemetry::TelemetryError),
    #[error("skillhub: {0}")]
    Skillhub(#[from] skillhub::SkillError),
    #[error("cannot write `{path}`: {reason}")]
    Write { path: String, reason: String },
    #[error("cannot render the skill as Markdown: {0}")]
    Markdown(String),
    #[error("no skill for task `{0}`; `rectune skills list` shows the tasks that have one")]
    NoSkill(String),
    #[error("{0}")]
    Serve(String),
    #[error("{0}")]
    Analyze(String),
    #[error(transparent)]
    Logs(#[from] crate::logs::LogsError),
}

/// Prints a line for the person at the terminal. A closed stdout (`rectune run | head`)
/// is not an error: the run's results live in the database and the JSON summary, and a
/// run must not die mid-round because nobody reads its progress.
fn say(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn markdown_err(e: skillhub::MarkdownError) -> CommandError {
    CommandError::Markdown(e.to_string())
}

fn write(path: &Path, text: &str) -> Result<(), CommandError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| CommandError::Write { path: dir.display().to_string(), reason: e.to_string() })?;
    }
    std::fs::write(path, text)
        .map_err(|e| CommandError::Write { path: path.display().to_string(), reason: e.to_string() })
}

pub fn execute(cli: Cli) -> Result<(), CommandError> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Skills { action, db } => skills(action, db),
        Command::Platform { action: PlatformAction::Serve(args) } => serve(args),
        Command::Analyze(args) => analyze(args),
        Command::Logs(args) => logs(args),
    }
}

fn run(args: RunArgs) -> Result<(), CommandError> {
    let overrides = Overrides {
        task_file: args.task.clone(),
        db: args.db.clone(),
        seed: args.seed,
        rounds: args.rounds,
        log_file: args.log_file.clone(),
        platform_url: args.platform.clone(),
    };
    let settings = Settings::load(&overrides)?;
    let _telemetry = telemetry::init(&settings.run.log_file, settings.run.log_stderr)?;
    let budget = settings.task.budget.rounds;
    if !args.quiet {
        say(format!(
            "rectune: tuning `{}` on {}, {} rounds x {} arms x {} units; log stream: {}",
            settings.task.id,
            platform_label(&settings),
            budget,
            settings.task.budget.arms_per_round,
            settings.task.budget.units_per_arm,
            settings.run.log_file.display()
        ));
    }
    let quiet = args.quiet;
    let summary = actix_rt::System::new().block_on(runtime::run(&settings, |r| {
        if !quiet {
            say(summary::progress_line(r, budget));
        }
    }))?;
    say(summary::render(&summary));
    if let Some(path) = &args.json_summary {
        let json = serde_json::to_string_pretty(&summary)
            .map_err(|e| CommandError::Write { path: path.display().to_string(), reason: e.to_string() })?;
        write(path, &json)?;
    }
    Ok(())
}

fn logs(args: LogsArgs) -> Result<(), CommandError> {
    let path = match args.file {
        Some(path) => path,
        None => Settings::load(&Overrides::default())?.run.log_file,
    };
    let q = crate::logs::LogQuery { agent: args.agent, task: args.task, min_level: args.level, json: args.json };
    // `logs::run` handles a closed stdout itself.
    Ok(crate::logs::run(&path, args.follow, &q, &mut std::io::stdout().lock())?)
}

fn analyze(args: AnalyzeArgs) -> Result<(), CommandError> {
    use agents::analysis::{analyze, render_table, AnalysisOptions};
    let name = args.file.display().to_string();
    let fail = |why: String| CommandError::Analyze(format!("{name}: {why}"));
    let text = if name == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| fail(e.to_string()))?
    } else {
        std::fs::read_to_string(&args.file).map_err(|e| fail(format!("{e}; pass the JSON of a read response")))?
    };
    let de = &mut serde_json::Deserializer::from_str(&text);
    let read: agents::platform::ExperimentRead = serde_path_to_error::deserialize(de)
        .map_err(|e| fail(format!("not a platform read response: {}: {}", e.path(), e.inner())))?;
    let options = AnalysisOptions {
        confidence: args.confidence,
        control_arm: args.control,
        sequential_tuning_n: args.sequential_tuning_n,
        traffic_shares: args.shares,
    };
    let analysis = analyze(&read, &options).map_err(|e| fail(e.to_string()))?;
    if args.json {
        say(serde_json::to_string_pretty(&analysis).map_err(|e| fail(e.to_string()))?);
    } else {
        say(render_table(&analysis));
    }
    Ok(())
}

fn platform_label(s: &Settings) -> String {
    match s.platform.kind {
        crate::settings::PlatformKind::Sim => format!("sim ({} {})", s.platform.scenario, s.platform.model_version),
        crate::settings::PlatformKind::Http => format!("http platform {}", s.platform.http.url),
    }
}

fn serve(args: ServeArgs) -> Result<(), CommandError> {
    use crate::platform::serve::{self, Faults, LaunchLog, ServerState};
    let _telemetry = args.log_file.as_deref().map(|f| telemetry::init(f, false)).transpose()?;
    let fail = |what: &str, e: &dyn std::fmt::Display| CommandError::Serve(format!("{what}: {e}"));
    let token = match &args.token_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            CommandError::Serve(format!("--token-env names `{var}`, which is not set; export {var}=<token>"))
        })?),
        None => None,
    };
    let log = match &args.launch_log {
        Some(path) => LaunchLog::open(path).map_err(|e| fail(&format!("--launch-log {}", path.display()), &e))?,
        None => LaunchLog::default(),
    };
    let scenario = crate::platform::sim::Scenario::load(&args.scenario, &args.model_version)
        .map_err(|e| fail("--scenario/--model-version", &e))?;
    let options = crate::platform::sim::SimOptions {
        pause: args.pace_ms.map(std::time::Duration::from_millis),
        ..Default::default()
    };
    let platform = std::sync::Arc::new(crate::platform::sim::SimPlatform::new(scenario, options));
    let state = ServerState { platform, token, log, faults: Faults::new(args.unavailable, args.lose_acks) };
    actix_rt::System::new().block_on(async move {
        let (server, addr) = serve::bind(state, &args.addr).map_err(|e| fail(&format!("--addr {}", args.addr), &e))?;
        say(format!("rectune platform: scenario `{}` ({}) at http://{addr}", args.scenario, args.model_version));
        tracing::info!(%addr, scenario = %args.scenario, "platform server listening");
        server.await.map_err(|e| fail("server", &e))
    })
}

fn skills(action: SkillsAction, db: Option<PathBuf>) -> Result<(), CommandError> {
    let settings = Settings::load(&Overrides { db, ..Default::default() })?;
    actix_rt::System::new().block_on(async move {
        let db = runtime::open_db(&settings.run.db)?;
        let store = SkillStore::open(&db)?;
        store.load_seeds(&seed_skills()?).await?;
        match action {
            SkillsAction::List => {
                for s in store.list()? {
                    let active = s.active_rules().count();
                    let state = if s.deprecated { "deprecated" } else { "active" };
                    say(format!(
                        "{:<20} v{:<4} {state:<10} {active} active rules of {}  ({})",
                        s.task_id,
                        s.version,
                        s.rules.len(),
                        s.initial_config.source
                    ));
                }
            }
            SkillsAction::Show { task } => {
                let s = store.get(&task)?.ok_or(CommandError::NoSkill(task))?;
                say(render_markdown(&s).map_err(markdown_err)?);
            }
            SkillsAction::Export { out, task } => {
                let all = store.list()?;
                let chosen: Vec<_> = all.iter().filter(|s| task.as_ref().is_none_or(|t| &s.task_id == t)).collect();
                if let (Some(t), true) = (&task, chosen.is_empty()) {
                    return Err(CommandError::NoSkill(t.clone()));
                }
                for s in chosen {
                    let path = out.join(format!("{}.md", s.task_id));
                    write(&path, &render_markdown(s).map_err(markdown_err)?)?;
                    say(format!("wrote {}", path.display()));
                }
            }
        }
        Ok(())
    })
}
