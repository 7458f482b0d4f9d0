//! The command line.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rectune",
    version,
    about = "Autonomous tuning of multi-stage recommender configurations by five cooperating agents"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tune a task (the embedded default task on the built-in simulator unless configured).
    Run(RunArgs),
    /// Read what the Skillhub has learned.
    Skills {
        #[command(subcommand)]
        action: SkillsAction,
        /// The sled database (default: run.db from the configuration).
        #[arg(long, global = true)]
        db: Option<PathBuf>,
    },
    /// Analyse a platform read (the JSON of `GET /v1/experiments/{id}`): effects,
    /// intervals, p-values, CUPED, sequential intervals, SRM and adjusted p-values.
    Analyze(AnalyzeArgs),
    /// Print the JSON log stream readably, filtered to one agent, task or level.
    Logs(LogsArgs),
    /// Serve the simulator over the experiment platform HTTP contract.
    Platform {
        #[command(subcommand)]
        action: PlatformAction,
    },
    /// Show a running `rectune run`: every agent's state, the round, the incumbent and
    /// the experiments waiting for approval.
    Status(StatusArgs),
    /// Approve an experiment waiting for approval (`agents.online.approval = "manual"`).
    Approve(ApproveArgs),
    /// Reject an experiment waiting for approval: it is not launched and its round ends.
    Reject(RejectArgs),
}

/// How to reach a running `rectune run`'s status endpoint.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// The endpoint's address, e.g. 127.0.0.1:7878 (default: the address file next to
    /// the database, else status.addr from the configuration).
    #[arg(long)]
    pub addr: Option<String>,
    /// The run's database, whose address file names the endpoint (default: run.db).
    #[arg(long)]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Print the endpoint's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print the Prometheus metrics instead.
    #[arg(long, conflicts_with = "json")]
    pub metrics: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The approval id, as `rectune status` lists it (e.g. rank-fusion-r3).
    pub id: String,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Who decides (default: $USER), journaled with the decision.
    #[arg(long)]
    pub by: Option<String>,
    /// Why (optional for an approval), journaled with the decision.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The approval id, as `rectune status` lists it (e.g. rank-fusion-r3).
    pub id: String,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// Who decides (default: $USER), journaled with the decision.
    #[arg(long)]
    pub by: Option<String>,
    /// Why the experiment must not run, journaled with the decision.
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The JSON-lines log file (default: run.log_file from the configuration).
    pub file: Option<PathBuf>,
    /// Keep printing lines as the run appends them, until interrupted.
    #[arg(long, short)]
    pub follow: bool,
    /// Only this agent's lines: actor, critic, online, insight, skill (or cost, when on).
    #[arg(long)]
    pub agent: Option<String>,
    /// Only this task's lines, e.g. rank-fusion.
    #[arg(long)]
    pub task: Option<String>,
    /// Lowest level shown: trace, debug, info, warn or error.
    #[arg(long, default_value = "trace")]
    pub level: crate::logs::Level,
    /// Print the matching lines unchanged (JSON) instead of readably.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The read response, as JSON (`-` reads standard input).
    pub file: PathBuf,
    /// Print the analysis as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Two-sided confidence of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// The control arm (default: the arm named `control`, else the first).
    #[arg(long)]
    pub control: Option<String>,
    /// Intended traffic shares, one per arm in the read's order, for the SRM check
    /// (default: equal), e.g. `--shares 0.5,0.25,0.25`.
    #[arg(long, value_delimiter = ',')]
    pub shares: Option<Vec<f64>>,
    /// Tuning of the always-valid intervals: the total units at which they are tightest.
    #[arg(long, default_value_t = 5000.0)]
    pub sequential_tuning_n: f64,
}

#[derive(Debug, Subcommand)]
pub enum PlatformAction {
    /// Serve a simulator scenario at an address until interrupted.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// prerank-fusion, rank-fusion or rerank-diversity.
    #[arg(long, default_value = "rank-fusion")]
    pub scenario: String,
    /// The ranking model version: v1, or v2 (a model change).
    #[arg(long, default_value = "v1")]
    pub model_version: String,
    /// Address to listen on; port 0 picks a free port (the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8088")]
    pub addr: String,
    /// Require `Authorization: Bearer <token>`, the token read from this environment variable.
    #[arg(long)]
    pub token_env: Option<String>,
    /// Append one JSON line per launch request to this file (the server's own record).
    #[arg(long)]
    pub launch_log: Option<PathBuf>,
    /// Pause between batches of simulated users, so experiments last long enough to watch.
    #[arg(long)]
    pub pace_ms: Option<u64>,
    /// Answer the first N requests with 503 (fault rehearsal).
    #[arg(long, default_value_t = 0)]
    pub unavailable: u64,
    /// Launch the first N experiments but answer 503, as if the acknowledgement were lost.
    #[arg(long, default_value_t = 0)]
    pub lose_acks: u64,
    /// Launch the first N experiments but answer with a body that is not the contract's.
    #[arg(long, default_value_t = 0)]
    pub garbage_launches: u64,
    /// Answer the first N experiment reads with a body that is not the contract's.
    #[arg(long, default_value_t = 0)]
    pub garbage_reads: u64,
    /// Answer the first N launches --slow-ms late (after launching), past a client's timeout.
    #[arg(long, default_value_t = 0)]
    pub slow_launches: u64,
    #[arg(long, default_value_t = 2000)]
    pub slow_ms: u64,
    /// JSON-lines log file of the server (default: none).
    #[arg(long)]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Task file (TOML); default: the embedded rank-fusion task.
    #[arg(long)]
    pub task: Option<PathBuf>,
    /// A configuration file (TOML) layered over the task file and under environment
    /// variables, e.g. config/llm-local.toml to have every agent think with a model.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The sled database; created if absent, resumed if it holds this task's run.
    #[arg(long)]
    pub db: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Base URL of an experiment platform speaking the HTTP contract (default: the
    /// in-process simulator).
    #[arg(long, value_name = "URL")]
    pub platform: Option<String>,
    /// Rounds of the budget (overrides the task file).
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Write the run summary as JSON to this file.
    #[arg(long)]
    pub json_summary: Option<PathBuf>,
    /// The JSON-lines log file (overrides run.log_file).
    #[arg(long)]
    pub log_file: Option<PathBuf>,
    /// Print no progress lines, only the summary.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum SkillsAction {
    /// One line per skill: task, version, rules.
    List,
    /// A skill as Markdown.
    Show { task: String },
    /// Write every skill (or one) as Markdown files into a directory.
    Export {
        #[arg(long, default_value = "skills-export")]
        out: PathBuf,
        task: Option<String>,
    },
}
