//! The optimum cache: in memory for the process, and as JSON files so that test runs
//! and benchmarks do not repeat a search of several seconds. A file that cannot be read
//! or parsed, or that belongs to another key, is a miss, never an error.

use super::SimError;
use agents::platform::Optimum;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone)]
pub struct OptimumCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    optimum: Optimum,
}

fn memory() -> &'static Mutex<HashMap<String, Optimum>> {
    static MEMORY: OnceLock<Mutex<HashMap<String, Optimum>>> = OnceLock::new();
    MEMORY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// FNV-1a: stable across processes and Rust versions, unlike the std hasher.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl OptimumCache {
    /// `$RECTUNE_CACHE_DIR`, else `$HOME/.cache/rectune`, else the system temp dir.
    pub fn from_env() -> OptimumCache {
        let dir = std::env::var_os("RECTUNE_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("rectune")))
            .unwrap_or_else(|| std::env::temp_dir().join("rectune"));
        OptimumCache::at(dir)
    }

    pub fn at(dir: impl Into<PathBuf>) -> OptimumCache {
        OptimumCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a key is stored in.
    pub fn path_for(&self, key: &str) -> PathBuf {
        Self::file(&self.dir, key)
    }

    fn file(dir: &Path, key: &str) -> PathBuf {
        dir.join(format!("sim-optimum-{:016x}.json", stable_hash(key)))
    }

    pub fn get(&self, key: &str) -> Option<Optimum> {
        if let Some(o) = memory().lock().ok().and_then(|m| m.get(key).cloned()) {
            return Some(o);
        }
        let text = std::fs::read_to_string(Self::file(&self.dir, key)).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        if entry.key != key {
            return None;
        }
        if let Ok(mut m) = memory().lock() {
            m.insert(key.to_string(), entry.optimum.clone());
        }
        Some(entry.optimum)
    }

    /// Stores in memory, then on disk; when the directory is not writable the system
    /// temp dir is used instead. Returns where the file went.
    pub fn put(&self, key: &str, optimum: &Optimum) -> Result<PathBuf, SimError> {
        if let Ok(mut m) = memory().lock() {
            m.insert(key.to_string(), optimum.clone());
        }
        let entry = Entry { key: key.to_string(), optimum: optimum.clone() };
        let text = serde_json::to_string_pretty(&entry)
            .map_err(|e| SimError::Cache { path: self.dir.clone(), source: std::io::Error::other(e) })?;
        match write_atomically(&self.dir, key, &text) {
            Ok(p) => Ok(p),
            Err(first) => write_atomically(&std::env::temp_dir().join("rectune"), key, &text).map_err(|_| first),
        }
    }

    /// Forgets the in-memory entry (tests use it to force a read from disk).
    pub fn forget(&self, key: &str) {
        if let Ok(mut m) = memory().lock() {
            m.remove(key);
        }
    }
}

fn write_atomically(dir: &Path, key: &str, text: &str) -> Result<PathBuf, SimError> {
    let path = OptimumCache::file(dir, key);
    let io = |source| SimError::Cache { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    // A unique temporary name, then rename: readers never see half a file.
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn optimum(score: f64) -> Optimum {
        Optimum { config: BTreeMap::new(), metrics: BTreeMap::new(), score }
    }

    #[test]
    fn corrupt_or_foreign_files_are_misses_and_get_rewritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = OptimumCache::at(dir.path());
        let key = "cache-test|corrupt";
        let path = OptimumCache::file(dir.path(), key);
        std::fs::write(&path, "{ not json").expect("write");
        assert!(cache.get(key).is_none());
        std::fs::write(&path, r#"{"key":"other","optimum":{"config":{},"metrics":{},"score":1.0}}"#).expect("write");
        assert!(cache.get(key).is_none());
        let written = cache.put(key, &optimum(2.5)).expect("put");
        assert_eq!(written, path);
        cache.forget(key);
        assert_eq!(cache.get(key).map(|o| o.score), Some(2.5));
    }

    #[test]
    fn unwritable_directory_falls_back_to_temp() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").expect("write");
        // A directory below a regular file cannot be created.
        let cache = OptimumCache::at(blocker.join("sub"));
        let path = cache.put("cache-test|fallback", &optimum(1.0)).expect("fallback");
        assert!(path.starts_with(std::env::temp_dir()));
        let _ = std::fs::remove_file(path);
    }
}
