//! Reading: shape snapshots (taken and persisted atomically with the head LSN), snapshot
//! chunks, and a shape's view of the change log after an offset.

use eddy::protocol::{ChangeMessage, LogOffset, OpOffset, Row};
use rusqlite::{params, OptionalExtension};

use super::{head_lsn, row_from_sql, select_cols, EntryKind, LogEntry, Store, StoreError};
use crate::ident::quote_ident;
use crate::shape::{mark_last, LogMode, Shape};

/// A new snapshot's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Head LSN when the snapshot was taken: the log continues after it.
    pub snapshot_lsn: u64,
    /// Number of chunks (at least 1; an empty snapshot is one empty chunk).
    pub chunks: u64,
}

/// A shape persisted by this or an earlier run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredShape {
    /// Its handle.
    pub handle: String,
    /// Canonical definition text.
    pub def: String,
    /// Snapshot position.
    pub info: SnapshotInfo,
}

/// The result of reading a shape's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRead {
    /// Messages after the requested offset, whole transactions only, `last` set.
    pub msgs: Vec<ChangeMessage>,
    /// True if the read reached the head of the log (no byte limit cut it short).
    pub complete: bool,
    /// Head LSN at the time of the read.
    pub head: u64,
    /// A truncate of the shape's table happened after the snapshot: the handle is dead.
    pub truncated: bool,
}

const BATCH: i64 = 512;

/// The offset of a message in its shape log.
pub fn msg_offset(m: &ChangeMessage) -> LogOffset {
    LogOffset::new(m.headers.lsn.unwrap_or(0), m.headers.op_position.unwrap_or(0))
}

fn encoded_len(m: &ChangeMessage) -> usize {
    serde_json::to_string(&eddy::protocol::Message::Change(m.clone())).map_or(0, |s| s.len() + 1)
}

impl Store {
    /// Take the snapshot for a new handle and persist it with its chunks.
    pub fn create_snapshot(
        &self,
        shape: &Shape,
        handle: &str,
        chunk_bytes: usize,
    ) -> Result<SnapshotInfo, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let head = head_lsn(&tx)?;
        let mut chunks: Vec<String> = Vec::new();
        let mut cur = String::from("[");
        if shape.def.log == LogMode::Full {
            let t = &shape.table;
            let sql = format!(
                "SELECT {} FROM {} ORDER BY rowid",
                select_cols(t),
                quote_ident(&t.name)
            );
            let mut stmt = tx.prepare(&sql)?;
            let rows = stmt.query_map([], |r| row_from_sql(t, r))?;
            for row in rows {
                let row: Row = row?;
                if !shape.contains(&row) {
                    continue;
                }
                let msg = eddy::protocol::Message::Change(shape.snapshot_message(&row));
                let text = serde_json::to_string(&msg).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if cur.len() > 1 && cur.len() + text.len() + 1 > chunk_bytes {
                    cur.push(']');
                    chunks.push(std::mem::replace(&mut cur, String::from("[")));
                }
                if cur.len() > 1 {
                    cur.push(',');
                }
                cur.push_str(&text);
            }
        }
        cur.push(']');
        chunks.push(cur);
        tx.execute(
            "INSERT INTO _eddy_shapes (handle, def, tbl, snapshot_lsn, chunks) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                handle,
                shape.def.canonical(),
                shape.def.table,
                head as i64,
                chunks.len() as i64
            ],
        )?;
        for (i, body) in chunks.iter().enumerate() {
            tx.execute(
                "INSERT INTO _eddy_snapshot (handle, chunk, body) VALUES (?1, ?2, ?3)",
                params![handle, i as i64, body],
            )?;
        }
        tx.commit()?;
        Ok(SnapshotInfo {
            snapshot_lsn: head,
            chunks: chunks.len() as u64,
        })
    }

    /// Every current row of `table` in storage order, with the head LSN and the next
    /// transaction id, read atomically (for subset snapshots).
    pub fn table_rows(&self, table: &crate::schema::Table) -> Result<(Vec<Row>, u64, u64), StoreError> {
        let conn = self.lock();
        let head = head_lsn(&conn)?;
        let next_txid = super::meta_u64(&conn, "next_txid")?;
        let sql = format!(
            "SELECT {} FROM {} ORDER BY rowid",
            select_cols(table),
            quote_ident(&table.name)
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map([], |r| row_from_sql(table, r))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((rows, head, next_txid))
    }

    /// The encoded body (a JSON array) of snapshot chunk `i` of `handle`.
    pub fn chunk(&self, handle: &str, i: u64) -> Result<Option<String>, StoreError> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT body FROM _eddy_snapshot WHERE handle = ?1 AND chunk = ?2",
                params![handle, i.min(i64::MAX as u64) as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every persisted shape.
    pub fn shapes(&self) -> Result<Vec<StoredShape>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT handle, def, snapshot_lsn, chunks FROM _eddy_shapes")?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredShape {
                handle: r.get(0)?,
                def: r.get(1)?,
                info: SnapshotInfo {
                    snapshot_lsn: r.get::<_, i64>(2)? as u64,
                    chunks: r.get::<_, i64>(3)? as u64,
                },
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Forget a handle and its snapshot.
    pub fn drop_shape(&self, handle: &str) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM _eddy_snapshot WHERE handle = ?1", params![handle])?;
        tx.execute("DELETE FROM _eddy_shapes WHERE handle = ?1", params![handle])?;
        tx.commit()?;
        Ok(())
    }

    /// The offset of the shape's last log message after its snapshot (`None` if there is
    /// none), whether a truncate invalidated it, and the head LSN — scanning the log backwards,
    /// so `offset=now` costs little however long the log is.
    pub fn log_end(
        &self,
        shape: &Shape,
        snapshot_lsn: u64,
    ) -> Result<(Option<LogOffset>, bool, u64), StoreError> {
        let conn = self.lock();
        let head = head_lsn(&conn)?;
        let from = snapshot_lsn.saturating_add(1).min(i64::MAX as u64) as i64;
        let truncated: i64 = conn.query_row(
            "SELECT count(*) FROM _eddy_log WHERE tbl = ?1 AND lsn >= ?2 AND kind = 'truncate'",
            params![shape.def.table, from],
            |r| r.get(0),
        )?;
        if truncated > 0 {
            return Ok((None, true, head));
        }
        let mut stmt = conn.prepare(
            "SELECT lsn, op, txid, kind, old, new FROM _eddy_log WHERE tbl = ?1 AND lsn >= ?2 \
             AND (lsn, op) < (?3, ?4) ORDER BY lsn DESC, op DESC LIMIT ?5",
        )?;
        let mut cursor = (i64::MAX, i64::MAX);
        loop {
            let batch = stmt
                .query_map(params![shape.def.table, from, cursor.0, cursor.1, BATCH], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let n = batch.len() as i64;
            for (lsn, op, txid, kind, old, new) in batch {
                cursor = (lsn, op);
                let entry = decode_entry(shape, lsn, op, txid, &kind, old, new)?;
                if let Some(last) = shape.messages_for(&entry).last() {
                    return Ok((Some(msg_offset(last)), false, head));
                }
            }
            if n < BATCH {
                return Ok((None, false, head));
            }
        }
    }

    /// The shape's messages after `after` (and after the snapshot at `snapshot_lsn`), whole
    /// transactions only, stopping once `max_bytes` is exceeded (at least one transaction).
    pub fn read_log(
        &self,
        shape: &Shape,
        snapshot_lsn: u64,
        after: LogOffset,
        max_bytes: usize,
    ) -> Result<LogRead, StoreError> {
        let conn = self.lock();
        let head = head_lsn(&conn)?;
        // Start at the first transaction that may hold messages after `after`.
        let start = if after.tx <= snapshot_lsn {
            snapshot_lsn.saturating_add(1)
        } else if after.op == OpOffset::Inf {
            after.tx.saturating_add(1)
        } else {
            after.tx
        };
        let mut out = LogRead {
            msgs: Vec::new(),
            complete: true,
            head,
            truncated: false,
        };
        if start > head {
            return Ok(out);
        }
        let mut stmt = conn.prepare(
            "SELECT lsn, op, txid, kind, old, new FROM _eddy_log WHERE tbl = ?1 AND (lsn, op) >= (?2, ?3) \
             ORDER BY lsn, op LIMIT ?4",
        )?;
        let mut cursor = (start.min(i64::MAX as u64) as i64, 0i64);
        let mut bytes = 0usize;
        let mut tx_msgs: Vec<ChangeMessage> = Vec::new();
        let mut tx_lsn: Option<u64> = None;
        let finish = |tx_msgs: &mut Vec<ChangeMessage>, out: &mut LogRead, bytes: &mut usize| -> bool {
            mark_last(tx_msgs);
            let kept: Vec<ChangeMessage> = tx_msgs.drain(..).filter(|m| msg_offset(m) > after).collect();
            let size: usize = kept.iter().map(encoded_len).sum();
            if !out.msgs.is_empty() && *bytes + size > max_bytes {
                out.complete = false;
                return false;
            }
            *bytes += size;
            out.msgs.extend(kept);
            true
        };
        loop {
            let rows = stmt.query_map(params![shape.def.table, cursor.0, cursor.1, BATCH], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })?;
            let batch = rows.collect::<Result<Vec<_>, _>>()?;
            let n = batch.len() as i64;
            for (lsn, op, txid, kind, old, new) in batch {
                cursor = (lsn, op + 1);
                let lsn = lsn as u64;
                if tx_lsn != Some(lsn) {
                    if !finish(&mut tx_msgs, &mut out, &mut bytes) {
                        return Ok(out);
                    }
                    tx_lsn = Some(lsn);
                }
                let entry = decode_entry(shape, lsn as i64, op, txid, &kind, old, new)?;
                if entry.kind == EntryKind::Truncate {
                    out.truncated = true;
                    return Ok(out);
                }
                tx_msgs.extend(shape.messages_for(&entry));
            }
            if n < BATCH {
                break;
            }
        }
        finish(&mut tx_msgs, &mut out, &mut bytes);
        Ok(out)
    }
}

/// A log row as a [`LogEntry`].
fn decode_entry(
    shape: &Shape,
    lsn: i64,
    op: i64,
    txid: i64,
    kind: &str,
    old: Option<String>,
    new: Option<String>,
) -> Result<LogEntry, StoreError> {
    let kind = EntryKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("log kind {kind}")))?;
    let parse = |s: Option<String>| -> Result<Option<Row>, StoreError> {
        s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    };
    Ok(LogEntry {
        lsn: lsn as u64,
        op: op as u64,
        txid: txid as u64,
        table: shape.def.table.clone(),
        kind,
        old: parse(old)?,
        new: parse(new)?,
    })
}
