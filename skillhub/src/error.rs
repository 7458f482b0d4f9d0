//! The Skillhub's boundary error: what a caller of the store or the actor sees.

use crate::markdown::MarkdownError;
use crate::patch::PatchError;

#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    /// The patch was refused; nothing was written.
    #[error("skill patch rejected: {0}")]
    Rejected(#[from] PatchError),
    #[error("skill storage (sled) failed: {0}")]
    Storage(#[from] sled::Error),
    #[error("corrupt record in sled tree `{tree}` at key `{key}`: {problem}; restore the database from a backup or remove the key")]
    Corrupt { tree: &'static str, key: String, problem: String },
    #[error("cannot encode a record for sled tree `{tree}`: {problem}")]
    Encode { tree: &'static str, problem: String },
    #[error(
        "the database's `skillhub.schema_version` is `{found}` but this build reads version {supported}: \
         open it with the rectune version that wrote it, or point the runtime at another database"
    )]
    Schema { found: String, supported: u32 },
    #[error("seed skill `{file}`: {source}")]
    Seed {
        file: &'static str,
        #[source]
        source: MarkdownError,
    },
}
