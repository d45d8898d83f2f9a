//! The shape-log state machine shared by the long-poll HTTP endpoint and the WebSocket
//! endpoint: given a shape's entry and a requested offset, produce the next batch (a snapshot
//! chunk or a slice of the change log), waiting for a commit when live.
//!
//! Offsets follow ref §0: `-1` → snapshot chunk 0 at `0_0` (never up-to-date); `0_k` → chunk
//! k+1 at `0_(k+1)`; after the last chunk (or at `0_inf`) → the change log after the snapshot
//! LSN, whole transactions up to `--chunk-bytes`, ending at `0_inf` when there is nothing or at
//! the last change's `<lsn>_<op>`, with `up-to-date` when the head was reached; `now` →
//! `[up-to-date]` at the shape's current log end. Live reads wait for a commit (or a handle
//! drop) until the deadline, then answer `[up-to-date]` at the same offset.

use std::sync::Arc;

use eddy::protocol::{LogOffset, Message, Offset, OpOffset};
use tokio::time::Instant;

use crate::logcache::SharedRead;
use crate::state::{AppState, ShapeEntry};
use crate::store::LogRead;

/// One step of a shape log.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A batch of messages.
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
    /// The handle is gone: refetch from `-1` with this handle.
    Refetch(String),
    /// The offset is not in this shape's log.
    OutOfBounds,
    /// A storage failure.
    Internal(String),
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| e.to_string())
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Step::Internal(e.to_string()),
            Err(e) => return Step::Internal(e),
        }
    };
}

/// The current handle for the entry's definition (creating one), as a refetch step.
pub async fn refetch(app: &Arc<AppState>, entry: &Arc<ShapeEntry>, drop_old: bool) -> Step {
    let (a, e) = (app.clone(), entry.clone());
    let h = tri!(
        blocking(move || {
            if drop_old {
                a.drop_handles(std::slice::from_ref(&e.handle))?;
            }
            a.get_or_create(&e.shape).map(|n| n.handle.clone())
        })
        .await
    );
    Step::Refetch(h)
}

/// Where a log read starts for a log offset, or `None` if it is out of bounds.
fn log_start(entry: &ShapeEntry, off: LogOffset, head: u64) -> Option<LogOffset> {
    if off.tx == 0 {
        return match off.op {
            OpOffset::At(k) if k >= entry.info.chunks => None,
            _ => Some(LogOffset::tx_end(0)),
        };
    }
    (off.tx <= head).then_some(off)
}

/// The snapshot chunk a request at `offset` gets, if any.
pub fn chunk_for(entry: &ShapeEntry, offset: Offset) -> Option<u64> {
    match offset {
        Offset::BeforeAll => Some(0),
        Offset::Log(LogOffset {
            tx: 0,
            op: OpOffset::At(k),
        }) if k.saturating_add(1) < entry.info.chunks => Some(k + 1),
        _ => None,
    }
}

/// The next batch after `offset`. With `live`, an empty caught-up read waits for a change
/// until `deadline`.
pub async fn next(
    app: &Arc<AppState>,
    entry: &Arc<ShapeEntry>,
    offset: Offset,
    live: bool,
    deadline: Instant,
) -> Step {
    if let Some(i) = chunk_for(entry, offset) {
        let (a, h) = (app.clone(), entry.handle.clone());
        return match tri!(blocking(move || a.store.chunk(&h, i)).await) {
            Some(body) => Step::Batch {
                has_data: body != "[]",
                body,
                end: LogOffset::new(0, i).to_string(),
                up_to_date: false,
            },
            None => refetch(app, entry, false).await,
        };
    }
    let a = app.clone();
    let version = *app.changes.borrow();
    let head = match app
        .log_cache
        .head(
            version,
            || async move { flat(blocking(move || a.store.head()).await) },
        )
        .await
    {
        Ok(h) => h,
        Err(e) => return Step::Internal(e),
    };
    let after = match offset {
        Offset::Log(off) => match log_start(entry, off, head) {
            Some(a) => a,
            None => {
                // The cached head belongs to the change version read above; a write can have
                // committed (and been served to this client) before that version was bumped.
                // Only the store's own head can say an offset is out of bounds.
                let a = app.clone();
                let fresh = match flat(blocking(move || a.store.head()).await) {
                    Ok(h) => h,
                    Err(e) => return Step::Internal(e),
                };
                match log_start(entry, off, fresh) {
                    Some(a) => a,
                    None => return Step::OutOfBounds,
                }
            }
        },
        Offset::Now | Offset::BeforeAll => LogOffset::tx_end(0),
    };
    if offset == Offset::Now {
        let (a, e) = (app.clone(), entry.clone());
        let (last, truncated, head) =
            tri!(blocking(move || a.store.log_end(&e.shape, e.info.snapshot_lsn)).await);
        if truncated {
            return refetch(app, entry, true).await;
        }
        let body = serde_json::to_string(&[Message::up_to_date(Some(head))]).unwrap_or_default();
        let end = last.unwrap_or(LogOffset::tx_end(0)).to_string();
        return Step::Batch {
            body,
            end,
            up_to_date: true,
            has_data: false,
        };
    }
    let max = app.config.chunk_bytes;
    let mut rx = app.changes.subscribe();
    loop {
        let version = *rx.borrow_and_update();
        if app.registry().get(&entry.handle).is_none() {
            return refetch(app, entry, false).await;
        }
        // Waiters of this shape at this offset share one read per commit (see `logcache`).
        let (a, e) = (app.clone(), entry.clone());
        let shared = app
            .log_cache
            .read(&entry.handle, after, version, || async move {
                let read = flat(
                    blocking(move || a.store.read_log(&e.shape, e.info.snapshot_lsn, after, max)).await,
                )?;
                Ok(shared_read(read, after))
            })
            .await;
        let shared = match shared {
            Ok(s) => s,
            Err(e) => return Step::Internal(e),
        };
        return match &*shared {
            SharedRead::Truncated => refetch(app, entry, true).await,
            SharedRead::Idle { body } => {
                if live {
                    if let Ok(Ok(())) = tokio::time::timeout_at(deadline, rx.changed()).await {
                        continue;
                    }
                }
                Step::Batch {
                    body: body.clone(),
                    end: after.to_string(),
                    up_to_date: true,
                    has_data: false,
                }
            }
            SharedRead::Batch {
                body,
                end,
                up_to_date,
                has_data,
            } => Step::Batch {
                body: body.clone(),
                end: end.clone(),
                up_to_date: *up_to_date,
                has_data: *has_data,
            },
        };
    }
}

/// A blocking task's storage result with both failure kinds as a message.
fn flat<T, E: std::fmt::Display>(r: Result<Result<T, E>, String>) -> Result<T, String> {
    r.and_then(|r| r.map_err(|e| e.to_string()))
}

/// What every request reading the log after `after` answers for this read.
fn shared_read(read: LogRead, after: LogOffset) -> SharedRead {
    if read.truncated {
        return SharedRead::Truncated;
    }
    let end = read.msgs.last().map_or(after, crate::store::msg_offset);
    let has_data = !read.msgs.is_empty();
    let mut msgs: Vec<Message> = read.msgs.into_iter().map(Message::Change).collect();
    if read.complete {
        msgs.push(Message::up_to_date(Some(read.head)));
    }
    let body = serde_json::to_string(&msgs).unwrap_or_else(|_| "[]".into());
    if !has_data && read.complete {
        return SharedRead::Idle { body };
    }
    SharedRead::Batch {
        body,
        end: end.to_string(),
        up_to_date: read.complete,
        has_data,
    }
}
