//! Live SSE bookkeeping (ref §4.4): the per-connection message buffer, the offset an SSE batch
//! advances to, and the short-connection counter that triggers the long-poll fallback.
//!
//! Buffering: events are held until an `up-to-date` arrives and then released as one batch, so
//! a connection that drops mid-transaction never hands half a transaction to the consumer. A
//! dropped connection discards its buffer; the reconnect (from the last committed offset)
//! re-delivers those messages.
//!
//! Offset: SSE events carry no offsets. At each `up-to-date` the next offset is the maximum of
//! the current offset, `<global_last_seen_lsn>_0` (what the official client uses) and
//! `<lsn>_<op_position>` of every change in the batch. Each candidate names a position the
//! client has fully received: the server sends `up-to-date` only after every operation up to
//! `global_last_seen_lsn`, and a change's own offset is by definition received. Taking the
//! maximum avoids re-delivering `<lsn>_1..n` of a multi-operation last transaction (which
//! `<lsn>_0` alone would), and never moves the offset backwards (an up-to-date without
//! `global_last_seen_lsn` and a batch of changes without `lsn`, e.g. move-in rows, leave it
//! unchanged).

use crate::protocol::message::{ControlMessage, Message};
use crate::protocol::offset::{LogOffset, Offset};

use super::fast_loop::pause_ceiling;

/// A connection shorter than this (ms) that was not aborted by the machine is "short".
pub const SSE_SHORT_CONNECTION_MS: u64 = 1000;
/// Consecutive short connections after which the stream falls back to long-polling for good.
pub const SSE_MAX_SHORT_CONNECTIONS: u32 = 3;

/// What to do after an SSE connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseVerdict {
    /// A normal (long) connection: reconnect.
    Reconnect,
    /// A short one: wait a jittered time under this ceiling (ms), then reconnect over SSE.
    Pause(u64),
    /// Too many short ones: use long-polling from now on.
    FallBack,
}

/// The SSE state of one stream.
#[derive(Debug, Clone, Default)]
pub struct SseState {
    fallback: bool,
    short_closes: u32,
    buffer: Vec<Message>,
}

impl SseState {
    /// True once the stream has fallen back to long-polling.
    pub fn fell_back(&self) -> bool {
        self.fallback
    }

    /// Buffer one event. Returns the whole batch when `msg` is an `up-to-date`.
    pub fn push(&mut self, msg: Message) -> Option<Vec<Message>> {
        let done = msg.is_up_to_date();
        self.buffer.push(msg);
        done.then(|| std::mem::take(&mut self.buffer))
    }

    /// Messages buffered and not yet released.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Drop a partial batch (its connection ended before an up-to-date).
    pub fn discard(&mut self) {
        self.buffer.clear();
    }

    /// Note that a connection closed after `duration_ms` (not aborted by the machine).
    pub fn closed(&mut self, duration_ms: u64) -> CloseVerdict {
        self.buffer.clear();
        if duration_ms >= SSE_SHORT_CONNECTION_MS {
            self.short_closes = 0;
            return CloseVerdict::Reconnect;
        }
        self.short_closes = self.short_closes.saturating_add(1);
        if self.short_closes >= SSE_MAX_SHORT_CONNECTIONS {
            self.fallback = true;
            CloseVerdict::FallBack
        } else {
            CloseVerdict::Pause(pause_ceiling(self.short_closes))
        }
    }
}

/// The offset after an SSE batch; see the module docs for why this is the maximum.
pub fn batch_offset(current: Offset, batch: &[Message]) -> Offset {
    let mut best = current;
    let mut consider = |candidate: LogOffset| {
        let candidate = Offset::Log(candidate);
        if !matches!(best, Offset::Log(b) if Offset::Log(b) >= candidate) {
            best = candidate;
        }
    };
    for msg in batch {
        match msg {
            Message::Change(c) => {
                if let (Some(lsn), Some(op)) = (c.headers.lsn, c.headers.op_position) {
                    consider(LogOffset::new(lsn, op));
                }
            }
            Message::Control(ControlMessage::UpToDate {
                global_last_seen_lsn: Some(lsn),
            }) => consider(LogOffset::new(*lsn, 0)),
            _ => {}
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::{ChangeHeaders, ChangeMessage, Operation};
    use crate::protocol::row::{Key, Row};

    fn change(lsn: Option<u64>, op: Option<u64>) -> Message {
        Message::Change(ChangeMessage {
            key: Key::new("k"),
            operation: Operation::Insert,
            value: Row::new(),
            old_value: None,
            headers: ChangeHeaders {
                lsn,
                op_position: op,
                ..ChangeHeaders::default()
            },
        })
    }

    fn at(tx: u64, op: u64) -> Offset {
        Offset::Log(LogOffset::new(tx, op))
    }

    #[test]
    fn buffers_until_up_to_date() {
        let mut s = SseState::default();
        assert_eq!(s.push(change(Some(1), Some(0))), None);
        assert_eq!(s.buffered(), 1);
        let batch = s.push(Message::up_to_date(Some(1))).unwrap_or_default();
        assert_eq!(batch.len(), 2);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn offset_takes_the_maximum() {
        let cur = at(10, 4);
        // Global LSN beyond the changes.
        assert_eq!(
            batch_offset(cur, &[change(Some(20), Some(3)), Message::up_to_date(Some(30))]),
            at(30, 0)
        );
        // Multi-op last transaction: keep <lsn>_<op> rather than <lsn>_0.
        let b = [
            change(Some(20), Some(0)),
            change(Some(20), Some(4)),
            Message::up_to_date(Some(20)),
        ];
        assert_eq!(batch_offset(cur, &b), at(20, 4));
        // Nothing usable: unchanged; never backwards.
        assert_eq!(
            batch_offset(cur, &[change(None, None), Message::up_to_date(None)]),
            cur
        );
        assert_eq!(batch_offset(cur, &[Message::up_to_date(Some(3))]), cur);
        // From the snapshot range.
        assert_eq!(
            batch_offset(Offset::Log(LogOffset::tx_end(0)), &[Message::up_to_date(Some(7))]),
            at(7, 0)
        );
    }

    #[test]
    fn three_short_connections_fall_back() {
        let mut s = SseState::default();
        assert_eq!(s.closed(10), CloseVerdict::Pause(200));
        assert_eq!(s.closed(999), CloseVerdict::Pause(400));
        assert!(!s.fell_back());
        assert_eq!(s.closed(0), CloseVerdict::FallBack);
        assert!(s.fell_back());
    }

    #[test]
    fn a_long_connection_resets_the_count() {
        let mut s = SseState::default();
        s.closed(10);
        s.closed(10);
        assert_eq!(s.closed(60_000), CloseVerdict::Reconnect);
        assert_eq!(s.closed(10), CloseVerdict::Pause(200));
        assert!(!s.fell_back());
    }
}
