use std::fmt;
use std::path::PathBuf;

use crate::Hash;

/// What went wrong, with what it was about.
#[derive(Debug)]
pub enum ArtifactError {
    /// The folder exists but is not a store (no `FORMAT` file, and not empty).
    NotAStore {
        path: PathBuf,
        why: String,
    },
    /// The store was written by a newer version of this format.
    NewerFormat {
        found: u32,
        supported: u32,
    },
    /// No blob with this hash is known.
    UnknownHash(Hash),
    /// The stale manager archived or deleted it.
    Removed {
        hash: Hash,
        at: f64,
        action: String,
        rule: String,
    },
    /// A put names an input that is not stored.
    MissingInput {
        input: Hash,
        why: String,
    },
    /// Still referenced (pinned, or a version of a name): not removed.
    InUse {
        hash: Hash,
        why: String,
    },
    /// No ref with this name, or no such version of it.
    UnknownName {
        name: String,
        version: Option<u32>,
    },
    /// A blob's bytes do not hash to its name, or do not decompress.
    Corrupt {
        hash: Hash,
        why: String,
    },
    /// A name or metadata value that cannot be stored.
    Invalid(String),
    /// A collector's snapshot older than the journal still reaches: the
    /// changes since it were trimmed, so it can no longer tell what to spare.
    SnapshotTooOld {
        since: i64,
        oldest: i64,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Index(rusqlite::Error),
}

impl ArtifactError {
    /// Whether it means the disk, a quota or a file size limit is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            ArtifactError::Io { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG))
            }
            ArtifactError::Index(e) => matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DiskFull)),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, ArtifactError>;

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactError::NotAStore { path, why } => {
                write!(f, "{} is not an artifact store: {why}", path.display())
            }
            ArtifactError::NewerFormat { found, supported } => write!(
                f,
                "the store has format version {found}; this version reads up to {supported}"
            ),
            ArtifactError::UnknownHash(h) => write!(f, "no artifact {h}"),
            ArtifactError::Removed { hash, at, action, rule } => {
                let how = if action == "archive" {
                    format!("archived (StaleManager.restore('{hash}') brings it back)")
                } else {
                    "deleted".to_owned()
                };
                write!(
                    f,
                    "artifact {hash} was {how} by the stale manager's rule '{rule}' at {at:.0} (Unix time)"
                )
            }
            ArtifactError::MissingInput { input, why } => {
                write!(f, "input {input} of this put is not in the store: {why}")
            }
            ArtifactError::InUse { hash, why } => write!(f, "artifact {hash} is in use: {why}"),
            ArtifactError::UnknownName { name, version: None } => write!(f, "no artifact named '{name}'"),
            ArtifactError::UnknownName { name, version: Some(v) } => write!(f, "artifact '{name}' has no version {v}"),
            ArtifactError::Corrupt { hash, why } => write!(f, "artifact {hash} is corrupt: {why}"),
            ArtifactError::Invalid(why) => f.write_str(why),
            ArtifactError::SnapshotTooOld { since, oldest } => write!(
                f,
                "the snapshot (journal entry {since}) is older than the journal keeps (from entry {oldest}): \
                 more than {} changes came after it; take a new snapshot",
                crate::index::JOURNAL_KEEP
            ),
            ArtifactError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ArtifactError::Index(e) => write!(f, "the metadata index: {e}"),
        }
    }
}

impl std::error::Error for ArtifactError {}

impl From<rusqlite::Error> for ArtifactError {
    fn from(e: rusqlite::Error) -> Self {
        ArtifactError::Index(e)
    }
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ArtifactError {
    let path = path.into();
    move |source| ArtifactError::Io { path, source }
}
