//! Skills that transfer: after the simulator's model changes (v1 → v2), a run of the same
//! task on the same database is a new run (the v1 journal is archived, not resumed), its
//! first proposal re-tests the skill's best elite alone (a one-treatment round), the skill
//! keeps the v1 run's reads beside the v2 run's, and it captures half of the v2 gap in
//! fewer rounds than a cold v2 run. Also audits the Critic on the v1 run's journal: no
//! launched arm had a predicted guardrail-breach probability above the threshold.
//!
//! Each run gets its own actix system (as `rectune run` does), so that the database is
//! released when the run returns and the next run (or the audit) can open it.

mod common;

use agents::journal::{Journal, Step};
use agents::protocol::{Proposal, Verdict};
use agents::strategy::critique::launched_risks;
use rectune::runtime;
use rectune::settings::{Overrides, Settings};
use skillhub::{Configuration, EliteConfig, PriorRead, SkillStore};
use std::path::Path;

const SCENARIO: &str = "prerank-fusion";
const SHARE: f64 = 0.5;

fn settings(db: &Path, version: &str, seed: u64, rounds: u32, risk: f64) -> Settings {
    let overrides = Overrides {
        task_file: Some(common::repo_file(&format!("config/tasks/{SCENARIO}.toml"))),
        db: Some(db.to_path_buf()),
        seed: Some(seed),
        rounds: Some(rounds),
        log_file: Some(db.with_extension("log.jsonl")),
        ..Default::default()
    };
    let mut s = Settings::load(&overrides).expect("settings");
    s.platform.model_version = version.to_string();
    s.agents.critic.guardrail_risk_threshold = risk;
    s
}

/// Runs to the end and returns the true share of the gap captured by the incumbent after
/// every round (on the settings' model version).
fn run(s: &Settings) -> Vec<f64> {
    let oracle = runtime::platform(s).expect("platform").oracle().expect("a simulator");
    let task = s.task.clone();
    let optimum = oracle.optimum(&task).score;
    let base = oracle.expected(&task.baseline());
    let gap = |c: &Configuration| {
        let m = oracle.expected(c);
        if !task.feasible(&m, &base) {
            return 0.0;
        }
        (task.score(&skillhub::task::lifts_pct(&m, &base)) / optimum).clamp(0.0, 1.0)
    };
    let mut gaps = Vec::new();
    actix_rt::System::new()
        .block_on(runtime::run(s, |r| {
            gaps.push(r.insight.as_ref().map_or(0.0, |i| gap(&i.incumbent.config)));
        }))
        .expect("run");
    gaps
}

fn rounds_to(gaps: &[f64], share: f64) -> usize {
    gaps.iter().position(|g| *g >= share).map_or(gaps.len() + 1, |i| i + 1)
}

fn open(db: &Path) -> sled::Db {
    sled::Config::new().path(db).open().expect("open the run's database")
}

/// The Critic's rule, checked from the journal: every launched arm's predicted breach
/// risk was at most the threshold, and the rule had something to judge.
fn audit_critic(db: &sled::Db, s: &Settings) {
    let journal = Journal::open(db).expect("journal");
    let risks = launched_risks(&journal, &s.task).expect("audit");
    assert!(!risks.is_empty(), "no launched arm had a prediction to audit");
    let threshold = s.agents.critic.guardrail_risk_threshold;
    for r in &risks {
        assert!(r.risk <= threshold + 1e-9, "{r:?} was launched above the risk threshold {threshold}");
    }
}

#[test]
fn a_new_model_version_is_a_new_run_that_warm_starts_from_the_skill() {
    std::env::set_var("RECTUNE_CACHE_DIR", common::cache_dir());
    let dir = tempfile::tempdir().unwrap();
    let (mut warm_rounds, mut cold_rounds) = (Vec::new(), Vec::new());
    for seed in 1..=2u64 {
        let shared = dir.path().join(format!("shared-{seed}.db"));
        // A stricter Critic than the default, so that its rule has candidates to reject.
        let v1 = settings(&shared, "v1", seed, 3, 0.3);
        run(&v1);
        let (elites, v1_reads, v1_run): (Vec<EliteConfig>, Vec<PriorRead>, String) = {
            let db = open(&shared);
            audit_critic(&db, &v1);
            let skill = SkillStore::open(&db).unwrap().get(&v1.task.id).unwrap().expect("the task's skill");
            let id = Journal::open(&db).unwrap().get_run(&v1.task.id, "run_id").unwrap().expect("run id");
            (skill.priors.elites, skill.priors.reads, id)
        };
        assert!(!elites.is_empty(), "seed {seed}: the v1 run left no elites in the skill");
        // Every measured configuration, with every guardrail metric's lift.
        assert!(v1_reads.len() >= 8, "seed {seed}: {} reads", v1_reads.len());
        for g in &v1.task.guardrails {
            assert!(v1_reads.iter().all(|r| r.lifts_pct.contains_key(&g.metric)), "seed {seed}: no {} lift", g.metric);
        }

        let warm = run(&settings(&shared, "v2", seed, 2, 0.5));
        {
            let db = open(&shared);
            let journal = Journal::open(&db).unwrap();
            let proposal: Proposal = journal.get(&v1.task.id, 1, Step::Proposal).unwrap().expect("v2 round 1");
            assert_eq!(journal.next_round(&v1.task.id).unwrap(), 3, "seed {seed}: the v2 run ran its own two rounds");
            let id: String = journal.get_run(&v1.task.id, "run_id").unwrap().expect("run id");
            assert_ne!(id, v1_run, "seed {seed}: the v2 run resumed the v1 run");
            let archived: Option<Verdict> = journal.get_archived(&v1_run, &v1.task.id, 3, Step::Verdict).unwrap();
            assert!(archived.is_some(), "seed {seed}: the v1 run's journal was not archived");
            let best = elites.iter().max_by(|a, b| a.score_pct.total_cmp(&b.score_pct)).expect("an elite");
            assert_eq!(
                proposal.candidates.first().map(|c| &c.config),
                Some(&best.config),
                "seed {seed}: the first v2 proposal does not lead with the skill's best elite {best:#?}: {:#?}",
                proposal.candidates
            );
            // The elite is read alone, with the round's traffic.
            assert_eq!(proposal.treatments, Some(1), "seed {seed}: {proposal:#?}");
            // The skill keeps the v2 run's reads first and the v1 run's after them.
            let reads = SkillStore::open(&db).unwrap().get(&v1.task.id).unwrap().expect("skill").priors.reads;
            let fresh = reads.len() - v1_reads.len();
            assert!(fresh >= 1, "seed {seed}: the v2 run added no reads");
            assert_eq!(reads[fresh..], v1_reads[..], "seed {seed}: the v1 reads did not survive the v2 run");
        }
        let cold = run(&settings(&dir.path().join(format!("cold-{seed}.db")), "v2", seed, 2, 0.5));
        warm_rounds.push(rounds_to(&warm, SHARE));
        cold_rounds.push(rounds_to(&cold, SHARE));
        assert!(
            rounds_to(&warm, SHARE) < rounds_to(&cold, SHARE),
            "seed {seed}: warm {warm:?} vs cold {cold:?} (share of the v2 gap after each round)"
        );
    }
    eprintln!("rounds to {SHARE}: warm {warm_rounds:?}, cold {cold_rounds:?} (3 = not within 2 rounds)");
}
