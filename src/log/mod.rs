//! Materialize a shape log into one row per key, and compact message sequences.
//!
//! - [`Materializer`] buffers change messages and applies them atomically at each `up-to-date`
//!   (the only transactionally consistent point, ref §3.1), reporting a [`ChangeSet`]. It keeps
//!   the last committed rows visible through a `must-refetch` until the new handle's first
//!   `up-to-date` replaces them (no empty flash, ref §6.2). Besides the visible changes, the
//!   change set lists keys whose tag state or `relation` alone changed
//!   ([`ChangeSet::retagged`]), for persistence.
//! - [`compact`] / [`Compactor`] reduce any sequence of change messages to one `insert` per live
//!   key; [`Materializer::snapshot`] does the same for the committed rows (persistence, ref §7).
//!
//! Both run the same rule engine (`table`), so "compact, then apply" and "apply everything"
//! always agree. The rules, in brief (details on [`Materializer`]): insert = set, update = merge
//! the changed columns, delete = remove; a PK change carries the old row over to the new key;
//! move-out/move-in events update subquery tag state ([`TagState`], ref §3.4).

mod changeset;
mod compact;
mod materialize;
mod pending;
mod table;
mod tags;

pub use changeset::ChangeSet;
pub use compact::{compact, Compactor};
pub use materialize::{Materializer, MaterializerOptions, Mode, PlainCommit};
pub use pending::SegmentRange;
pub use tags::TagState;
