//! The board as Prometheus text exposition (format 0.0.4): counters since this process
//! started (a resumed run starts them again, as Prometheus counters may) and gauges of
//! where the run is.

use agents::board::{AgentState, Snapshot};
use std::fmt::Write;

/// A label value escaped as the format requires (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {}", number(value));
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

pub fn render(s: &Snapshot) -> String {
    let mut o = Out(String::new());
    let task = s.run.task_id.as_str();
    o.family("rectune_run_info", "gauge", "The run this process drives (value always 1).");
    o.sample("rectune_run_info", &[("task", task), ("run_id", &s.run.run_id), ("state", &s.run.state)], 1.0);
    o.family("rectune_round", "gauge", "The round being worked on (0 before the first).");
    o.sample("rectune_round", &[("task", task)], f64::from(s.run.round));
    o.family("rectune_budget_rounds", "gauge", "Rounds of the task's budget.");
    o.sample("rectune_budget_rounds", &[("task", task)], f64::from(s.run.budget_rounds));
    o.family("rectune_rounds_total", "counter", "Rounds completed by this process, by outcome.");
    for outcome in ["experiment", "skipped", "rejected"] {
        let n = s.counters.rounds.get(outcome).copied().unwrap_or(0);
        o.sample("rectune_rounds_total", &[("task", task), ("outcome", outcome)], n as f64);
    }
    o.family("rectune_launches_total", "counter", "Experiment launches acknowledged by the platform.");
    o.sample("rectune_launches_total", &[("task", task)], s.counters.launches as f64);
    o.family("rectune_verdicts_total", "counter", "Critic decisions on candidates, by decision and reason class.");
    for (decision, reasons) in &s.counters.verdicts {
        for (reason, n) in reasons {
            o.sample(
                "rectune_verdicts_total",
                &[("task", task), ("decision", decision), ("reason", reason)],
                *n as f64,
            );
        }
    }
    o.family("rectune_skill_patches_total", "counter", "Skill patches, by outcome (applied, duplicate, refused).");
    for (outcome, n) in &s.counters.skill_patches {
        o.sample("rectune_skill_patches_total", &[("task", task), ("outcome", outcome)], *n as f64);
    }
    o.family("rectune_approvals_pending", "gauge", "Experiments prepared and waiting for a person's decision.");
    o.sample("rectune_approvals_pending", &[("task", task)], s.pending_approvals.len() as f64);
    o.family("rectune_approval_decisions_total", "counter", "Approval decisions, by decision.");
    for decision in ["approved", "rejected"] {
        let n = s.counters.approvals.get(decision).copied().unwrap_or(0);
        o.sample("rectune_approval_decisions_total", &[("task", task), ("decision", decision)], n as f64);
    }
    o.family(
        "rectune_step_retries_total",
        "counter",
        "Steps retried because their agent was restarting or unreachable.",
    );
    o.sample("rectune_step_retries_total", &[("task", task)], s.counters.step_retries as f64);
    if let Some(lift) = s.run.incumbent.as_ref().and_then(|i| i.lift_pct) {
        o.family(
            "rectune_incumbent_lift_pct",
            "gauge",
            "The incumbent's measured objective lift against the baseline, %.",
        );
        o.sample("rectune_incumbent_lift_pct", &[("task", task), ("bound", "estimate")], lift.estimate);
        o.sample("rectune_incumbent_lift_pct", &[("task", task), ("bound", "low")], lift.low);
        o.sample("rectune_incumbent_lift_pct", &[("task", task), ("bound", "high")], lift.high);
    }
    agents_section(&mut o, s);
    o.0
}

fn agents_section(o: &mut Out, s: &Snapshot) {
    o.family("rectune_agent_state", "gauge", "1 for the state each agent is in.");
    for a in &s.agents {
        for (state, name) in [
            (AgentState::Idle, "idle"),
            (AgentState::Busy, "busy"),
            (AgentState::Restarting, "restarting"),
            (AgentState::Stopped, "stopped"),
        ] {
            o.sample(
                "rectune_agent_state",
                &[("agent", &a.name), ("state", name)],
                f64::from(u8::from(a.state == state)),
            );
        }
    }
    type Field = fn(&agents::board::AgentView) -> f64;
    let per_agent: [(&str, &str, &str, Field); 8] = [
        (
            "rectune_agent_mailbox_depth",
            "gauge",
            "Messages sent to the agent and not yet started (counted by rectune).",
            |a| a.mailbox_depth as f64,
        ),
        ("rectune_agent_in_flight", "gauge", "Messages sent to the agent and not yet answered.", |a| {
            a.in_flight as f64
        }),
        ("rectune_agent_messages_total", "counter", "Messages the agent answered (or that failed).", |a| {
            a.handled as f64
        }),
        ("rectune_agent_errors_total", "counter", "Messages that ended in an error.", |a| a.errors as f64),
        ("rectune_agent_restarts_total", "counter", "Restarts of the agent by its supervisor.", |a| {
            f64::from(a.restarts)
        }),
        ("rectune_llm_calls_total", "counter", "Model calls of the agent (0 for built-in reasoning).", |a| {
            a.llm.calls as f64
        }),
        ("rectune_llm_failures_total", "counter", "Model calls that failed.", |a| a.llm.failures as f64),
        ("rectune_llm_latency_ms_total", "counter", "Time spent in model calls, ms, retries included.", |a| {
            a.llm.latency_ms as f64
        }),
    ];
    for (name, kind, help, field) in per_agent {
        o.family(name, kind, help);
        for a in &s.agents {
            o.sample(name, &[("agent", &a.name)], field(a));
        }
    }
    let name = "rectune_llm_tokens_total";
    o.family(name, "counter", "Model tokens of the agent, by kind (prompt, completion).");
    for a in &s.agents {
        o.sample(name, &[("agent", &a.name), ("kind", "prompt")], a.llm.prompt_tokens as f64);
        o.sample(name, &[("agent", &a.name), ("kind", "completion")], a.llm.completion_tokens as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_agent_has_one_state_and_families_are_typed() {
        let board = agents::board::Board::new(&["actor", "critic"]);
        let text = render(&board.snapshot());
        assert_eq!(text.lines().filter(|l| l.starts_with("rectune_agent_state{") && l.ends_with(" 1")).count(), 2);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE");
        }
    }
}
