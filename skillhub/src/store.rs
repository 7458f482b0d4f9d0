//! The durable Skillhub: skills, their history and the applied patch ids in sled.
//!
//! Guarantees:
//! - a patch is applied atomically: the skill, its history entry and the patch id are
//!   written in one multi-tree transaction, or none of them is;
//! - a patch id is applied at most once: re-sending it returns the recorded version
//!   with `duplicate: true` and changes nothing;
//! - [`SkillStore::apply`] returns only after the write is flushed to disk.
//!
//! Reads see a committed patch at once, even while its flush is still running.
//!
//! The store never opens a database: the runtime opens one `sled::Db` per process and
//! shares it with the run journal, so the trees here are namespaced.

use crate::error::SkillError;
use crate::patch::SkillPatch;
use crate::skill::Skill;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::time::{SystemTime, UNIX_EPOCH};

/// The on-disk layout this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
pub const SCHEMA_KEY: &str = "skillhub.schema_version";

pub const TREE_SKILLS: &str = "skills";
pub const TREE_HISTORY: &str = "skill_history";
pub const TREE_PATCHES: &str = "skill_patches";
pub const TREE_META: &str = "meta";

/// The outcome of a patch the store accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The skill version the patch produced (for a duplicate: produced back then).
    pub version: u64,
    /// True when the patch id had already been applied and nothing changed.
    pub duplicate: bool,
}

/// One step of a skill's history: the patch that produced `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub version: u64,
    pub applied_at_ms: u64,
    pub patch: SkillPatch,
}

/// A handle on the Skillhub trees of a shared database; cheap to clone.
#[derive(Debug, Clone)]
pub struct SkillStore {
    db: sled::Db,
    skills: sled::Tree,
    history: sled::Tree,
    patches: sled::Tree,
}

type TxResult<T> = Result<T, ConflictableTransactionError<SkillError>>;

impl SkillStore {
    /// Opens the Skillhub trees in `db`, writing the schema version into a fresh
    /// database and refusing one written by an unknown layout.
    pub fn open(db: &sled::Db) -> Result<Self, SkillError> {
        check_schema(&db.open_tree(TREE_META)?)?;
        Ok(Self {
            db: db.clone(),
            skills: db.open_tree(TREE_SKILLS)?,
            history: db.open_tree(TREE_HISTORY)?,
            patches: db.open_tree(TREE_PATCHES)?,
        })
    }

    /// Validates and applies `patch` durably (see the module guarantees).
    pub async fn apply(&self, patch: &SkillPatch) -> Result<Applied, SkillError> {
        let applied = self.commit(patch)?;
        self.flush().await?;
        Ok(applied)
    }

    /// Applies `patch` in memory; durable only after [`SkillStore::flush`]. Split
    /// from `apply` so the actor can commit in message order and flush off the arbiter.
    pub(crate) fn commit(&self, patch: &SkillPatch) -> Result<Applied, SkillError> {
        let now_ms = unix_ms();
        let trees = (&self.skills, &self.history, &self.patches);
        trees
            .transaction(|(skills, history, patches)| {
                if let Some(raw) = patches.get(patch.id.as_bytes())? {
                    let version = decode_version(&patch.id, &raw).map_err(ConflictableTransactionError::Abort)?;
                    return Ok(Applied { version, duplicate: true });
                }
                let current = match skills.get(patch.task_id.as_bytes())? {
                    Some(raw) => Some(decode_skill(&patch.task_id, &raw).map_err(ConflictableTransactionError::Abort)?),
                    None => None,
                };
                let next = patch.apply(current.as_ref()).map_err(|e| abort(e.into()))?;
                let entry = HistoryEntry { version: next.version, applied_at_ms: now_ms, patch: patch.clone() };
                skills.insert(patch.task_id.as_bytes(), encode(TREE_SKILLS, &next)?)?;
                history.insert(history_key(&patch.task_id, next.version), encode(TREE_HISTORY, &entry)?)?;
                patches.insert(patch.id.as_bytes(), &next.version.to_be_bytes())?;
                Ok(Applied { version: next.version, duplicate: false })
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => SkillError::Storage(e),
            })
    }

    /// Makes every applied patch durable (see [`crate::durable`]).
    pub(crate) async fn flush(&self) -> Result<(), SkillError> {
        crate::durable::flush(&self.db).await.map_err(SkillError::from)
    }

    /// The current version of a task's skill.
    pub fn get(&self, task_id: &str) -> Result<Option<Skill>, SkillError> {
        match self.skills.get(task_id.as_bytes())? {
            Some(raw) => decode_skill(task_id, &raw).map(Some),
            None => Ok(None),
        }
    }

    /// Every skill, deprecated ones included, ordered by task id.
    pub fn list(&self) -> Result<Vec<Skill>, SkillError> {
        self.skills
            .iter()
            .map(|kv| {
                let (key, raw) = kv?;
                decode_skill(&String::from_utf8_lossy(&key), &raw)
            })
            .collect()
    }

    /// The patches that produced each version of a task's skill, oldest first.
    pub fn history(&self, task_id: &str) -> Result<Vec<HistoryEntry>, SkillError> {
        self.history
            .scan_prefix(history_prefix(task_id))
            .map(|kv| {
                let (key, raw) = kv?;
                decode(TREE_HISTORY, &history_key_name(task_id, &key), &raw)
            })
            .collect()
    }

    /// Creates every seed skill whose task has no skill yet; returns how many it
    /// created. Idempotent: seed patch ids are `seed/<task_id>`.
    pub async fn load_seeds(&self, seeds: &[Skill]) -> Result<usize, SkillError> {
        let mut created = 0;
        for seed in seeds {
            if self.get(&seed.task_id)?.is_some() {
                continue;
            }
            let applied = self.commit(&SkillPatch::seed(seed.clone()))?;
            created += usize::from(!applied.duplicate);
        }
        self.flush().await?;
        Ok(created)
    }
}

fn check_schema(meta: &sled::Tree) -> Result<(), SkillError> {
    let ours = SCHEMA_VERSION.to_string();
    // Compare-and-swap so that two stores opening a fresh database agree on one value.
    // No flush here: the first applied patch flushes it, and until then a lost
    // version key on a database without skills is simply written again.
    let found = match meta.compare_and_swap(SCHEMA_KEY, None as Option<&[u8]>, Some(ours.as_bytes()))? {
        Ok(()) => return Ok(()),
        Err(cas) => cas.current,
    };
    let found = found.map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default();
    if found == ours {
        Ok(())
    } else {
        Err(SkillError::Schema { found, supported: SCHEMA_VERSION })
    }
}

fn abort(e: SkillError) -> ConflictableTransactionError<SkillError> {
    ConflictableTransactionError::Abort(e)
}

fn encode<T: Serialize>(tree: &'static str, value: &T) -> TxResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| abort(SkillError::Encode { tree, problem: e.to_string() }))
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, key: &str, raw: &[u8]) -> Result<T, SkillError> {
    serde_json::from_slice(raw).map_err(|e| SkillError::Corrupt { tree, key: key.to_string(), problem: e.to_string() })
}

fn decode_skill(task_id: &str, raw: &[u8]) -> Result<Skill, SkillError> {
    decode(TREE_SKILLS, task_id, raw)
}

fn decode_version(patch_id: &str, raw: &[u8]) -> Result<u64, SkillError> {
    let bytes: [u8; 8] = raw.try_into().map_err(|_| SkillError::Corrupt {
        tree: TREE_PATCHES,
        key: patch_id.to_string(),
        problem: format!("expected an 8-byte big-endian version, found {} bytes", raw.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// `task_id`, a NUL separator (task ids never contain NUL, so `rank` does not
/// prefix-match `rank-fusion`), then the big-endian version so keys sort by version.
fn history_prefix(task_id: &str) -> Vec<u8> {
    let mut key = task_id.as_bytes().to_vec();
    key.push(0);
    key
}

fn history_key(task_id: &str, version: u64) -> Vec<u8> {
    let mut key = history_prefix(task_id);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn history_key_name(task_id: &str, key: &[u8]) -> String {
    let suffix = &key[key.len().min(task_id.len() + 1)..];
    match <[u8; 8]>::try_from(suffix) {
        Ok(v) => format!("{task_id}@v{}", u64::from_be_bytes(v)),
        Err(_) => format!("{task_id}@{suffix:02x?}"),
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
