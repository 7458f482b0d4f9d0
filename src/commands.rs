//! What each subcommand does; `main` only parses and reports.

use crate::cli::{
    AnalyzeArgs, Cli, Command, EndpointArgs, LogsArgs, PlatformAction, RunArgs, ServeArgs, SkillsAction, StatusArgs,
};
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
    #[error("{0}")]
    Status(String),
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
        Command::Status(args) => status(args),
        Command::Approve(a) => decide(&a.id, &a.endpoint, true, a.by, a.reason),
        Command::Reject(a) => decide(&a.id, &a.endpoint, false, a.by, Some(a.reason)),
    }
}

/// Finds a running run's status endpoint: `--addr`, else the address file next to the
/// database (`--db` or run.db), else status.addr; with the token status.token_env names.
fn endpoint(args: &EndpointArgs) -> Result<crate::status::client::Target, CommandError> {
    use crate::status::{address_file, client::Target, AddressRecord};
    let settings = Settings::load(&Overrides { db: args.db.clone(), ..Default::default() })?;
    let token = crate::status::token(&settings.status).map_err(|e| CommandError::Status(e.to_string()))?;
    if let Some(addr) = &args.addr {
        return Ok(Target { addr: addr.clone(), found_from: "--addr".into(), token });
    }
    let file = address_file(&settings.run.db);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let record: AddressRecord = serde_json::from_str(&text).map_err(|e| {
                CommandError::Status(format!("{}: not a status address file ({e}); pass --addr", file.display()))
            })?;
            Ok(Target { addr: record.addr, found_from: file.display().to_string(), token })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && args.db.is_some() => Err(CommandError::Status(format!(
            "no run is serving its status for {}: {} does not exist (the run writes it while it goes); pass --addr",
            settings.run.db.display(),
            file.display()
        ))),
        Err(_) => Ok(Target { addr: settings.status.addr.clone(), found_from: "status.addr".into(), token }),
    }
}

fn status(args: StatusArgs) -> Result<(), CommandError> {
    let target = endpoint(&args.endpoint)?;
    actix_rt::System::new().block_on(async move {
        let fail = |e: crate::status::client::ClientError| CommandError::Status(e.to_string());
        if args.metrics {
            say(target.get_text("/metrics").await.map_err(fail)?.trim_end());
        } else if args.json {
            let v = target.get_json("/status").await.map_err(fail)?;
            say(serde_json::to_string_pretty(&v).map_err(|e| CommandError::Status(e.to_string()))?);
        } else {
            let v = target.get_json("/status").await.map_err(fail)?;
            say(format!("{} (at {})", crate::status::client::render(&v), target.addr));
        }
        Ok(())
    })
}

fn decide(
    id: &str,
    endpoint_args: &EndpointArgs,
    approve: bool,
    by: Option<String>,
    reason: Option<String>,
) -> Result<(), CommandError> {
    let by = by
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| CommandError::Status("who decides is unknown: pass --by NAME ($USER is not set)".into()))?;
    let target = endpoint(endpoint_args)?;
    let verb = if approve { "approve" } else { "reject" };
    let path = format!("/approvals/{}/{verb}", encode_segment(id));
    let body = serde_json::json!({"by": by, "reason": reason});
    let d = actix_rt::System::new()
        .block_on(target.post_json(&path, &body))
        .map_err(|e| CommandError::Status(e.to_string()))?;
    let what = if approve { "approved; it launches now" } else { "rejected; it will not be launched" };
    say(format!("{id} {what} (by {by}{})", d["reason"].as_str().map(|r| format!(": {r}")).unwrap_or_default()));
    Ok(())
}

/// Percent-encodes everything but unreserved characters, for one URL path segment.
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run(args: RunArgs) -> Result<(), CommandError> {
    let overrides = Overrides {
        task_file: args.task.clone(),
        config_file: args.config.clone(),
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
    let state = ServerState {
        platform,
        token,
        log,
        faults: Faults::new(args.unavailable, args.lose_acks)
            .with_garbage(args.garbage_launches, args.garbage_reads)
            .with_slow_launches(args.slow_launches, std::time::Duration::from_millis(args.slow_ms)),
    };
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
