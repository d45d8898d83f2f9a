//! [`PersistError`]: why checkpointing or restoring failed, with stable codes.

use super::storage::StorageError;
use crate::error::ErrorCode;
use crate::protocol::Key;

/// A persistence failure (beyond the backend's own [`StorageError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersistError {
    /// The backend failed; the store is as it was before the call.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Stored bytes do not decode (bad magic, checksum, truncation, a missing page).
    #[error("persisted {what} is corrupt: {reason}")]
    Corrupt {
        /// Which structure (`page`, `meta`, `blockfile`, ...).
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// The checkpointer's stored page map says `key` is stored, and it is not dirty, but the
    /// row source has no row for it: the source is not the state the checkpointer tracked (a
    /// caller bug). Recover with [`super::Checkpointer::record_reset`].
    #[error("row source has no row for stored key {key}")]
    SourceMismatch {
        /// The key.
        key: Key,
    },
    /// A plan was applied after another plan changed the checkpointer (plans must be committed
    /// and applied one at a time, in order).
    #[error("checkpoint plan is stale: planned on sequence {planned}, checkpointer is at {current}")]
    StalePlan {
        /// Sequence the plan was made on.
        planned: u64,
        /// Sequence of the checkpointer now.
        current: u64,
    },
}

impl PersistError {
    pub(crate) fn corrupt(what: &str, reason: &str) -> Self {
        PersistError::Corrupt {
            what: what.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

impl ErrorCode for PersistError {
    fn code(&self) -> &'static str {
        match self {
            PersistError::Storage(e) => e.code(),
            PersistError::Corrupt { .. } => "EDDY_PERSIST_CORRUPT",
            PersistError::SourceMismatch { .. } => "EDDY_PERSIST_SOURCE_MISMATCH",
            PersistError::StalePlan { .. } => "EDDY_PERSIST_STALE_PLAN",
        }
    }
    fn family(&self) -> &'static str {
        match self {
            PersistError::Storage(e) => e.family(),
            _ => "StorageError",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_storage_errors_keep_theirs() {
        let q: PersistError = StorageError::Quota("full".into()).into();
        assert_eq!(
            (q.code(), q.family()),
            ("EDDY_STORAGE_QUOTA", "StorageQuotaError")
        );
        assert_eq!(PersistError::corrupt("page", "x").code(), "EDDY_PERSIST_CORRUPT");
        let s = PersistError::StalePlan {
            planned: 1,
            current: 2,
        };
        assert_eq!(s.code(), "EDDY_PERSIST_STALE_PLAN");
        let m = PersistError::SourceMismatch { key: "k".into() };
        assert_eq!(
            (m.code(), m.family()),
            ("EDDY_PERSIST_SOURCE_MISMATCH", "StorageError")
        );
    }
}
