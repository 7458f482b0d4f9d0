//! Skills as Markdown documents that people and language models can read.
//!
//! Layout: a `# Skill: <task>` title and a header block, then one `##` section per
//! slot plus `## Priors`. Each section holds a readable view (tables, lists, quotes)
//! and exactly one fenced `toml` block with the slot's data. Parsing reads only the
//! blocks, so prose can be reworded without breaking the skill; rendering rewrites the
//! prose from the data, so what is rendered parses back to the same skill.
//!
//! Prose lines always start with a fixed marker (`- `, `| `, `> `, a word), never with
//! a fence or a heading, so free text from rules cannot break the document structure.

use crate::patch::PatchError;
use crate::skill::{InitialConfig, NorthStar, Priors, Requirement, Rule, RuleStatus, Skill, TaskContext};
use crate::space::{ParamKind, ParamSpec, Value};
use crate::task::Direction;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

pub const HEADER: &str = "header";
pub const CONTEXT: &str = "1. Context";
pub const REQUIREMENT: &str = "2. Requirement";
pub const NORTH_STAR: &str = "3. North star";
pub const INITIAL_CONFIG: &str = "4. Initial configuration";
pub const RULES: &str = "5. Domain knowledge";
pub const TOOLS: &str = "6. Tools";
pub const PRIORS: &str = "Priors";

const NOTE: &str = "> The fenced `toml` blocks are the source of truth; the text around them is a \
readable view of the same data, rewritten whenever the skill is rendered.";

/// Why a document is not a skill; every variant names the section.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MarkdownError {
    #[error("section `{section}` is missing: add a `## {section}` heading with its toml block")]
    MissingSection { section: &'static str },
    #[error("section `{section}` appears twice: keep one")]
    DuplicateSection { section: &'static str },
    #[error("section `{section}` has no ```toml block: put the slot's data in one fenced toml block")]
    MissingBlock { section: &'static str },
    #[error("section `{section}` has {count} toml blocks: keep exactly one")]
    ExtraBlocks { section: &'static str, count: usize },
    #[error("section `{section}`: a ``` fence opened on line {line} is never closed")]
    UnclosedFence { section: String, line: usize },
    #[error("section `{section}`: invalid toml: {problem}")]
    Toml { section: &'static str, problem: String },
    #[error("section `{section}` cannot be rendered as toml: {problem}")]
    Render { section: &'static str, problem: String },
    #[error("the document parses but is not a valid skill: {0}")]
    Invalid(#[from] PatchError),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    task_id: String,
    version: u64,
    deprecated: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesBlock {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsBlock {
    #[serde(default)]
    tools: Vec<String>,
}

/// Renders `skill` as a Markdown document that [`parse_markdown`] reads back exactly.
pub fn render_markdown(skill: &Skill) -> Result<String, MarkdownError> {
    let header = Header { task_id: skill.task_id.clone(), version: skill.version, deprecated: skill.deprecated };
    let status = if skill.deprecated { "**deprecated**" } else { "active" };
    let mut doc = format!("# Skill: {}\n\nVersion {}, {status}.\n\n{NOTE}\n", skill.task_id, skill.version);
    doc += &block(HEADER, &header)?;
    section(&mut doc, CONTEXT, &context_prose(&skill.context), &skill.context)?;
    section(&mut doc, REQUIREMENT, &requirement_prose(&skill.requirement), &skill.requirement)?;
    section(&mut doc, NORTH_STAR, &north_star_prose(&skill.north_star), &skill.north_star)?;
    section(&mut doc, INITIAL_CONFIG, &initial_prose(&skill.initial_config), &skill.initial_config)?;
    let rules = RulesBlock { rules: skill.rules.clone() };
    section(&mut doc, RULES, &rules_prose(&skill.rules), &rules)?;
    let tools = ToolsBlock { tools: skill.tools.clone() };
    section(&mut doc, TOOLS, &tools_prose(&skill.tools), &tools)?;
    section(&mut doc, PRIORS, &priors_prose(&skill.priors), &skill.priors)?;
    Ok(doc)
}

/// Reads a skill document; the result is checked with [`Skill::validate`].
pub fn parse_markdown(doc: &str) -> Result<Skill, MarkdownError> {
    let sections = split_sections(doc)?;
    let header: Header = read(&sections, HEADER)?;
    let rules: RulesBlock = read(&sections, RULES)?;
    let tools: ToolsBlock = read(&sections, TOOLS)?;
    let skill = Skill {
        task_id: header.task_id,
        version: header.version,
        deprecated: header.deprecated,
        context: read(&sections, CONTEXT)?,
        requirement: read(&sections, REQUIREMENT)?,
        north_star: read(&sections, NORTH_STAR)?,
        initial_config: read(&sections, INITIAL_CONFIG)?,
        rules: rules.rules,
        tools: tools.tools,
        priors: read(&sections, PRIORS)?,
    };
    skill.validate()?;
    Ok(skill)
}

// ---- rendering ----

fn section<T: Serialize>(doc: &mut String, title: &'static str, prose: &str, data: &T) -> Result<(), MarkdownError> {
    let _ = write!(doc, "\n## {title}\n\n{prose}");
    *doc += &block(title, data)?;
    Ok(())
}

/// A fenced toml block, with a fence longer than any backtick run that starts a
/// line of the body, so multi-line strings cannot close it early.
fn block<T: Serialize>(section: &'static str, data: &T) -> Result<String, MarkdownError> {
    let body = toml::to_string_pretty(data).map_err(|e| MarkdownError::Render { section, problem: e.to_string() })?;
    let longest = body.lines().map(|l| l.chars().take_while(|&c| c == '`').count()).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let body = body.trim_end();
    let body = if body.is_empty() { String::new() } else { format!("{body}\n") };
    Ok(format!("\n{fence}toml\n{body}{fence}\n"))
}

/// Free text on one line, safe inside a table cell.
fn inline(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

fn context_prose(c: &TaskContext) -> String {
    format!("Stage `{}`, component `{}`.\n\n> {}\n", c.stage, c.component, inline(&c.summary))
}

fn requirement_prose(r: &Requirement) -> String {
    let mut out = String::from("| parameter | type | range | baseline | description |\n|---|---|---|---|---|\n");
    for p in &r.params {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            p.name,
            p.kind.type_name(),
            range_text(p),
            value_text(&p.baseline),
            inline(&p.description)
        );
    }
    let _ = write!(out, "\nOutput: {}\n", inline(&r.output_schema));
    if !r.limits.is_empty() {
        out += "\nInfrastructure limits:\n\n";
        for l in &r.limits {
            let _ = writeln!(out, "- {}", inline(l));
        }
    }
    out
}

fn range_text(p: &ParamSpec) -> String {
    match &p.kind {
        ParamKind::Float { min, max } => format!("[{min}, {max}]"),
        ParamKind::Int { min, max } => format!("{min}..={max}"),
        ParamKind::Choice { values } => values.join(" / "),
        ParamKind::Bool => "true / false".into(),
    }
}

fn north_star_prose(n: &NorthStar) -> String {
    let mut out = String::from("Objectives:\n\n");
    for o in &n.objectives {
        let dir = match o.direction {
            Direction::Maximize => "maximize",
            Direction::Minimize => "minimize",
        };
        let _ = writeln!(out, "- {dir} `{}` (weight {})", o.metric, o.weight);
    }
    if !n.guardrails.is_empty() {
        out += "\nGuardrails:\n\n";
        for g in &n.guardrails {
            let _ = writeln!(out, "- {}", inline(&g.describe()));
        }
    }
    out
}

fn initial_prose(i: &InitialConfig) -> String {
    let mut out = format!("Source: {}.\n\n| parameter | value |\n|---|---|\n", inline(&i.source));
    for (name, value) in &i.config {
        let _ = writeln!(out, "| `{name}` | {} |", value_text(value));
    }
    out
}

fn rules_prose(rules: &[Rule]) -> String {
    if rules.is_empty() {
        return "No rules yet.\n".into();
    }
    let mut out = String::new();
    for r in rules {
        let _ = writeln!(out, "- {}", rule_line(r));
    }
    out
}

/// The rule's text, then its facts on an indented continuation line.
fn rule_line(r: &Rule) -> String {
    let mut facts = vec![match &r.status {
        RuleStatus::Active => "active".to_string(),
        RuleStatus::Retired { reason } => format!("retired: {}", inline(reason)),
    }];
    facts.push(format!("confidence {}", r.confidence));
    if let Some(p) = &r.parameter {
        facts.push(format!("parameter `{p}`"));
    }
    if let Some(m) = &r.metric {
        facts.push(format!("metric `{m}`"));
    }
    if let Some(e) = r.effect_pct {
        facts.push(format!("effect {e:+}%"));
    }
    facts.push(format!("evidence {}", inline(&r.evidence.join(", "))));
    let p = &r.provenance;
    let round = p.round.map(|n| format!(", round {n}")).unwrap_or_default();
    facts.push(format!("by {} ({}{round}) in version {}", inline(&p.agent), inline(&p.model), r.created_in_version));
    format!("**{}**: {}\n  {}.", inline(&r.id), inline(&r.text), facts.join("; "))
}

/// Numbers in their shortest exact form: prose should not round what the block holds.
fn value_text(v: &Value) -> String {
    match v {
        Value::Num(x) => x.to_string(),
        other => inline(&other.to_string()),
    }
}

fn tools_prose(tools: &[String]) -> String {
    if tools.is_empty() {
        return "No platform actions.\n".into();
    }
    tools.iter().map(|t| format!("- `{}`\n", inline(t))).collect()
}

fn priors_prose(p: &Priors) -> String {
    let mut out = String::new();
    if p.sensitivity.is_empty() && p.region.is_empty() && p.elites.is_empty() && p.reads.is_empty() {
        return "None measured yet.\n".into();
    }
    for (name, s) in &p.sensitivity {
        let _ = writeln!(out, "- sensitivity of `{name}`: {s}");
    }
    for (name, (lo, hi)) in &p.region {
        let _ = writeln!(out, "- `{name}` searched in [{lo}, {hi}]");
    }
    for e in &p.elites {
        let _ = writeln!(out, "- elite from `{}`: score {:+}%", inline(&e.experiment_id), e.score_pct);
    }
    if let (Some(first), Some(last)) = (p.reads.first(), p.reads.last()) {
        let _ = writeln!(
            out,
            "- {} measured configurations kept as the landscape's shape, `{}` to `{}`",
            p.reads.len(),
            inline(&first.experiment_id),
            inline(&last.experiment_id)
        );
    }
    out
}

// ---- parsing ----

/// The toml bodies of one section, by section name.
type Sections = Vec<(String, Vec<String>)>;

fn split_sections(doc: &str) -> Result<Sections, MarkdownError> {
    let mut sections: Sections = vec![(HEADER.to_string(), Vec::new())];
    let mut lines = doc.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if let Some(title) = line.strip_prefix("## ") {
            sections.push((title.trim().to_string(), Vec::new()));
            continue;
        }
        let ticks = line.chars().take_while(|&c| c == '`').count();
        if ticks < 3 {
            continue;
        }
        let info = line[ticks..].trim();
        let section = sections.last_mut().map(|(name, blocks)| (name.clone(), blocks));
        let Some((name, blocks)) = section else { continue };
        let body = read_fence(&mut lines, ticks).ok_or(MarkdownError::UnclosedFence { section: name, line: n + 1 })?;
        if info == "toml" {
            blocks.push(body);
        }
    }
    Ok(sections)
}

/// Consumes lines up to the closing fence (a line of at least `ticks` backticks).
fn read_fence<'a>(lines: &mut impl Iterator<Item = (usize, &'a str)>, ticks: usize) -> Option<String> {
    let mut body = String::new();
    for (_, line) in lines.by_ref() {
        let t = line.trim_end();
        if t.len() >= ticks && t.chars().all(|c| c == '`') {
            return Some(body);
        }
        body.push_str(line);
        body.push('\n');
    }
    None
}

fn read<T: for<'de> Deserialize<'de>>(sections: &Sections, name: &'static str) -> Result<T, MarkdownError> {
    let mut found = sections.iter().filter(|(title, _)| title.eq_ignore_ascii_case(name));
    let (_, blocks) = found.next().ok_or(MarkdownError::MissingSection { section: name })?;
    if found.next().is_some() {
        return Err(MarkdownError::DuplicateSection { section: name });
    }
    match blocks.as_slice() {
        [body] => toml::from_str(body).map_err(|e| MarkdownError::Toml { section: name, problem: e.to_string() }),
        [] => Err(MarkdownError::MissingBlock { section: name }),
        more => Err(MarkdownError::ExtraBlocks { section: name, count: more.len() }),
    }
}
