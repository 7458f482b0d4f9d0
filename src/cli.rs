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
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Task file (TOML); default: the embedded rank-fusion task.
    #[arg(long)]
    pub task: Option<PathBuf>,
    /// The sled database; created if absent, resumed if it holds this task's run.
    #[arg(long)]
    pub db: Option<PathBuf>,
    #[arg(long)]
    pub seed: Option<u64>,
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
