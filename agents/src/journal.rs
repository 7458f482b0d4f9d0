//! The run journal: every step of every round, kept in the same sled database as the
//! Skillhub so that a restart (even after `kill -9`) resumes where the run stopped.
//!
//! Keys are `<task>/<round, zero-padded>/<step>`, so a prefix scan returns a task's
//! rounds in order. Every write is flushed before the call returns: a step the caller
//! saw acknowledged survives a crash (see `skillhub::durable` for how it is flushed).

use serde::{de::DeserializeOwned, Serialize};

const TREE: &str = "journal";
/// Runs superseded by a new run of the same task (another platform or model version).
const ARCHIVE_TREE: &str = "journal_archive";
const META: &str = "meta";
const SCHEMA_KEY: &str = "journal.schema_version";
const SCHEMA_VERSION: u64 = 1;

/// The steps of a round, in the order the coordinator takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Proposal,
    Verdict,
    /// The launch request and its idempotency key, written before the platform sees it.
    Launch,
    /// A person's decision on the launch (`agents.online.approval = "manual"`).
    Approval,
    /// The platform's experiment id, written once the launch is acknowledged.
    Launched,
    Result,
    Insight,
    /// Skill patches produced for the round (applied idempotently by the Skillhub).
    Patches,
    /// The round is complete.
    Done,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Proposal => "1-proposal",
            Step::Verdict => "2-verdict",
            Step::Launch => "3-launch",
            Step::Approval => "3a-approval",
            Step::Launched => "4-launched",
            Step::Result => "5-result",
            Step::Insight => "6-insight",
            Step::Patches => "7-patches",
            Step::Done => "8-done",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal storage error: {0}")]
    Storage(#[from] sled::Error),
    #[error("journal record `{key}` is unreadable: {source}")]
    Corrupt { key: String, source: serde_json::Error },
    #[error("journal schema version {found} is newer than this rectune understands ({SCHEMA_VERSION}); upgrade rectune or use another --db")]
    Schema { found: u64 },
}

/// A handle on the journal tree; cheap to clone (sled trees are reference-counted).
#[derive(Clone)]
pub struct Journal {
    db: sled::Db,
    tree: sled::Tree,
}

fn round_key(task: &str, round: u32, step: Step) -> String {
    format!("{task}/{round:06}/{}", step.as_str())
}

impl Journal {
    /// Opens the journal inside an already opened database (one `Db` per process).
    pub fn open(db: &sled::Db) -> Result<Self, JournalError> {
        let meta = db.open_tree(META)?;
        match meta.get(SCHEMA_KEY)? {
            Some(raw) => {
                let found = raw.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX);
                if found > SCHEMA_VERSION {
                    return Err(JournalError::Schema { found });
                }
            }
            None => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            }
        }
        Ok(Self { db: db.clone(), tree: db.open_tree(TREE)? })
    }

    pub fn get<T: DeserializeOwned>(&self, task: &str, round: u32, step: Step) -> Result<Option<T>, JournalError> {
        self.get_key(&round_key(task, round, step))
    }

    /// Writes a step and flushes it to disk before returning.
    pub async fn put<T: Serialize>(&self, task: &str, round: u32, step: Step, value: &T) -> Result<(), JournalError> {
        self.put_key(&round_key(task, round, step), value).await
    }

    /// Run-level records (the task spec a run was started with, its seed...).
    pub fn get_run<T: DeserializeOwned>(&self, task: &str, name: &str) -> Result<Option<T>, JournalError> {
        self.get_key(&format!("{task}/run/{name}"))
    }

    pub async fn put_run<T: Serialize>(&self, task: &str, name: &str, value: &T) -> Result<(), JournalError> {
        self.put_key(&format!("{task}/run/{name}"), value).await
    }

    /// Every record of one step kind for a task, in round order.
    pub fn all<T: DeserializeOwned>(&self, task: &str, step: Step) -> Result<Vec<(u32, T)>, JournalError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(format!("{task}/")) {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let mut parts = key.rsplitn(3, '/');
            let (Some(s), Some(r)) = (parts.next(), parts.next()) else { continue };
            if s != step.as_str() {
                continue;
            }
            let Ok(round) = r.parse::<u32>() else { continue };
            let value = serde_json::from_slice(&v).map_err(|source| JournalError::Corrupt { key, source })?;
            out.push((round, value));
        }
        Ok(out)
    }

    /// The first round of `task` without a `Done` record.
    pub fn next_round(&self, task: &str) -> Result<u32, JournalError> {
        let done = self.all::<serde_json::Value>(task, Step::Done)?;
        Ok(done.last().map(|(r, _)| r + 1).unwrap_or(1))
    }

    /// Moves every record of `task` (its rounds and run records) out of the live journal
    /// into the archive tree under `label/`, and returns how many moved. The next run of
    /// the task then starts from round 1, while the earlier run stays readable for audit.
    /// Copies first and flushes before deleting, so a crash in between leaves the records
    /// in both places rather than in neither.
    pub async fn archive(&self, task: &str, label: &str) -> Result<usize, JournalError> {
        let archive = self.db.open_tree(ARCHIVE_TREE)?;
        let mut keys = Vec::new();
        for item in self.tree.scan_prefix(format!("{task}/")) {
            let (k, v) = item?;
            let mut to = format!("{label}/").into_bytes();
            to.extend_from_slice(&k);
            archive.insert(to, v)?;
            keys.push(k);
        }
        skillhub::durable::flush(&self.db).await?;
        for k in &keys {
            self.tree.remove(k)?;
        }
        skillhub::durable::flush(&self.db).await?;
        Ok(keys.len())
    }

    /// One archived record (see [`Journal::archive`]).
    pub fn get_archived<T: DeserializeOwned>(
        &self,
        label: &str,
        task: &str,
        round: u32,
        step: Step,
    ) -> Result<Option<T>, JournalError> {
        let key = format!("{label}/{}", round_key(task, round, step));
        match self.db.open_tree(ARCHIVE_TREE)?.get(&key)? {
            None => Ok(None),
            Some(raw) => serde_json::from_slice(&raw).map(Some).map_err(|source| JournalError::Corrupt { key, source }),
        }
    }

    fn get_key<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, JournalError> {
        match self.tree.get(key)? {
            None => Ok(None),
            Some(raw) => serde_json::from_slice(&raw)
                .map(Some)
                .map_err(|source| JournalError::Corrupt { key: key.to_string(), source }),
        }
    }

    async fn put_key<T: Serialize>(&self, key: &str, value: &T) -> Result<(), JournalError> {
        let raw = serde_json::to_vec(value).map_err(|source| JournalError::Corrupt { key: key.to_string(), source })?;
        self.tree.insert(key, raw)?;
        skillhub::durable::flush(&self.db).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> sled::Db {
        sled::Config::new().temporary(true).open().expect("temporary sled db")
    }

    #[actix_rt::test]
    async fn rounds_come_back_in_order_and_next_round_follows_done() {
        let j = Journal::open(&temp_db()).unwrap();
        for r in [2u32, 1, 10] {
            j.put("t", r, Step::Result, &r).await.unwrap();
        }
        j.put("t", 1, Step::Done, &true).await.unwrap();
        j.put("t", 2, Step::Done, &true).await.unwrap();
        let rounds: Vec<u32> = j.all::<u32>("t", Step::Result).unwrap().into_iter().map(|(r, _)| r).collect();
        assert_eq!(rounds, vec![1, 2, 10]);
        assert_eq!(j.next_round("t").unwrap(), 3);
        assert_eq!(j.next_round("other").unwrap(), 1);
    }

    #[actix_rt::test]
    async fn corrupt_record_is_an_error_naming_its_key() {
        let db = temp_db();
        let j = Journal::open(&db).unwrap();
        db.open_tree(TREE).unwrap().insert("t/000001/5-result", &b"{not json"[..]).unwrap();
        let err = j.get::<u32>("t", 1, Step::Result).unwrap_err().to_string();
        assert!(err.contains("t/000001/5-result"), "{err}");
    }

    #[actix_rt::test]
    async fn archiving_a_task_starts_it_afresh_and_keeps_the_old_records() {
        let j = Journal::open(&temp_db()).unwrap();
        j.put("t", 1, Step::Result, &7u32).await.unwrap();
        j.put("t", 1, Step::Done, &true).await.unwrap();
        j.put_run("t", "run_id", &"t-1").await.unwrap();
        j.put("t2", 1, Step::Done, &true).await.unwrap();
        assert_eq!(j.archive("t", "t-1").await.unwrap(), 3);
        assert_eq!(j.next_round("t").unwrap(), 1);
        assert_eq!(j.get_run::<String>("t", "run_id").unwrap(), None);
        assert_eq!(j.get_archived::<u32>("t-1", "t", 1, Step::Result).unwrap(), Some(7));
        assert_eq!(j.next_round("t2").unwrap(), 2, "another task is untouched");
    }

    #[test]
    fn newer_schema_is_refused() {
        let db = temp_db();
        db.open_tree(META).unwrap().insert(SCHEMA_KEY, &99u64.to_be_bytes()).unwrap();
        assert!(matches!(Journal::open(&db), Err(JournalError::Schema { found: 99 })));
    }
}
