//! Shared log reads for live fan-out: when one commit wakes many long-polls (or SSE streams,
//! or WebSocket subscriptions) waiting on the same shape at the same offset, one of them reads
//! the log (under the store lock) and encodes the batch; the others await and share it.
//!
//! An entry is keyed by (handle, offset) and stamped with the change counter
//! ([`crate::state::AppState::changes`]) sampled *before* its read: a read started after the
//! counter reached `v` sees every commit notified up to `v`, so any request that samples the
//! same `v` may use it. The next commit (or handle drop) bumps the counter, which makes every
//! entry stale; stale entries are dropped when a new one is added. The store head LSN is shared
//! the same way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use eddy::protocol::LogOffset;
use tokio::sync::OnceCell;

/// The outcome of one log read, as every waiter at its offset would compute it.
#[derive(Debug, Clone, PartialEq)]
pub enum SharedRead {
    /// The shape's table was truncated after its snapshot: the handle is dead.
    Truncated,
    /// Nothing after the offset and the read reached the head (a live request waits).
    Idle {
        /// The encoded `[up-to-date]` body for a non-live answer.
        body: String,
    },
    /// Messages (or an incomplete read): the answer.
    Batch {
        /// JSON array of messages (ends with up-to-date when `up_to_date`).
        body: String,
        /// Offset to continue from.
        end: String,
        /// The batch ends with up-to-date.
        up_to_date: bool,
        /// The batch has change messages.
        has_data: bool,
    },
}

/// A read's result, shared by its waiters (`Err` = a storage failure's message; failures are
/// not kept: the next request reads again).
pub type ReadResult = Result<Arc<SharedRead>, String>;

#[derive(Debug)]
struct Slot {
    version: u64,
    cell: Arc<OnceCell<Arc<SharedRead>>>,
}

/// Above this many entries the map is cleared (bounds memory when many offsets are read
/// between two commits).
const MAX_ENTRIES: usize = 4096;

/// The cache (one per server).
#[derive(Debug, Default)]
pub struct LogCache {
    slots: Mutex<HashMap<(String, LogOffset), Slot>>,
    head: Mutex<Option<(u64, Arc<OnceCell<u64>>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LogCache {
    /// The read of `(handle, after)` at change counter `version`: the shared one if another
    /// request started it at the same version, else `read` runs (once for all its sharers).
    pub async fn read<F, Fut>(&self, handle: &str, after: LogOffset, version: u64, read: F) -> ReadResult
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<SharedRead, String>>,
    {
        let cell = {
            let mut slots = lock(&self.slots);
            let key = (handle.to_string(), after);
            match slots.get(&key) {
                Some(s) if s.version == version => s.cell.clone(),
                // An entry from a newer version (this request sampled before a commit) is kept.
                Some(s) if s.version > version => Arc::new(OnceCell::new()),
                _ => {
                    if slots.len() >= MAX_ENTRIES {
                        slots.clear();
                    }
                    slots.retain(|_, s| s.version >= version);
                    let cell = Arc::new(OnceCell::new());
                    slots.insert(
                        key,
                        Slot {
                            version,
                            cell: cell.clone(),
                        },
                    );
                    cell
                }
            }
        };
        cell.get_or_try_init(|| async { read().await.map(Arc::new) })
            .await
            .cloned()
    }

    /// The store head LSN at change counter `version`, read once per version.
    pub async fn head<F, Fut>(&self, version: u64, read: F) -> Result<u64, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<u64, String>>,
    {
        let cell = {
            let mut head = lock(&self.head);
            match &*head {
                Some((v, cell)) if *v == version => cell.clone(),
                Some((v, _)) if *v > version => Arc::new(OnceCell::new()),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    *head = Some((version, cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(read).await.copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn batch(n: usize) -> Result<SharedRead, String> {
        Ok(SharedRead::Idle { body: n.to_string() })
    }

    fn got(r: ReadResult) -> Result<SharedRead, String> {
        r.map(|s| (*s).clone())
    }

    #[tokio::test]
    async fn same_key_and_version_share_one_read() {
        let cache = Arc::new(LogCache::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let off = LogOffset::tx_end(0);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (c, r) = (cache.clone(), reads.clone());
            tasks.push(tokio::spawn(async move {
                c.read("h", off, 7, || async {
                    let n = r.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    batch(n)
                })
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), batch(0).map(Arc::new));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Another offset, another handle or a new version reads again.
        let again = |h: &'static str, o: LogOffset, v: u64| {
            let (c, r) = (cache.clone(), reads.clone());
            async move {
                c.read(h, o, v, || async { batch(r.fetch_add(1, Ordering::SeqCst)) })
                    .await
            }
        };
        assert_eq!(got(again("h", LogOffset::tx_end(5), 7).await), batch(1));
        assert_eq!(got(again("g", off, 7).await), batch(2));
        assert_eq!(got(again("h", off, 8).await), batch(3));
        assert_eq!(got(again("h", off, 8).await), batch(3));
        // A failed read is not kept.
        let fail = cache
            .read("e", off, 8, || async { Err("boom".to_string()) })
            .await;
        assert_eq!(fail, Err("boom".to_string()));
        assert_eq!(got(again("e", off, 8).await), batch(4));
        // A request that sampled an older version never gets (or evicts) a newer read.
        assert_eq!(got(again("h", off, 7).await), batch(5));
        assert_eq!(got(again("h", off, 8).await), batch(3));
    }

    #[tokio::test]
    async fn head_is_read_once_per_version_and_errors_are_not_kept() {
        let cache = LogCache::default();
        let reads = AtomicUsize::new(0);
        let read = |v: u64| {
            let r = &reads;
            async move { r.fetch_add(1, Ordering::SeqCst) as u64 + v }
        };
        assert_eq!(cache.head(1, || async { Ok(read(100).await) }).await, Ok(100));
        assert_eq!(cache.head(1, || async { Ok(read(100).await) }).await, Ok(100));
        assert_eq!(
            cache.head(1, || async { Err::<u64, _>("x".into()) }).await,
            Ok(100)
        );
        assert_eq!(
            cache.head(2, || async { Err::<u64, _>("x".to_string()) }).await,
            Err("x".into())
        );
        assert_eq!(cache.head(2, || async { Ok(read(200).await) }).await, Ok(201));
    }
}
