//! The two hooks the persister (`crate::web::persist`) needs inside a driver, kept out of the
//! driver's own code: a [`Tap`] that records every committed change set (which keys changed,
//! and the handle + offset the committed rows belong to), and [`restore`], which loads stored
//! rows and position into a driver that has not started yet. The tap only records (no JS
//! calls); the persister reads it later, outside any dispatch.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use super::{env, Core, ShapeStreamDriver};
use crate::fxhash::FxBuildHasher;
use crate::log::{ChangeSet, Materializer};
use crate::protocol::offset::Offset;
use crate::protocol::{ChangeMessage, Key, Schema};
use crate::stream::{ShapeStream, SplitMix64, StreamConfig};

/// What changed in the committed rows since the persister last took it.
#[derive(Debug, Default)]
pub struct Tap {
    /// Keys whose committed row changed (inserted, updated or deleted).
    pub dirty: HashSet<Key, FxBuildHasher>,
    /// A commit replaced the whole row set (the first up-to-date after a must-refetch).
    pub full: bool,
    /// A must-refetch was seen: the stored copy must be wiped now.
    pub wipe: bool,
    /// Handle and offset of the committed rows; `None` while unknown (after a must-refetch,
    /// or after a commit that was not at the end of a batch).
    pub position: Option<(String, Offset)>,
}

/// A tap shared by the driver (writer) and the persister (reader).
pub type TapRef = Rc<RefCell<Tap>>;

/// Called for every delivered batch, after the materializer ingested it.
pub(super) fn on_deliver(
    core: &Core,
    handle: &str,
    offset: Offset,
    up_to_date: bool,
    changes: Option<&ChangeSet>,
) {
    let Some(tap) = &core.tap else { return };
    let mut tap = tap.borrow_mut();
    let Some(changes) = changes else { return };
    if changes.reset {
        tap.full = true;
    }
    // Visible changes and tag-state/relation-only ones: everything a stored entry holds.
    tap.dirty.extend(changes.dirty_keys().cloned());
    let consistent = up_to_date && core.rows.pending_len() == 0 && !core.rows.is_refetching();
    tap.position = consistent.then(|| (handle.to_owned(), offset));
}

/// Called when the stream must re-sync from scratch (a 409).
pub(super) fn on_must_refetch(core: &Core) {
    if let Some(tap) = &core.tap {
        let mut tap = tap.borrow_mut();
        tap.wipe = true;
        tap.position = None;
        tap.dirty.clear();
    }
}

/// Why a restore was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreRefused {
    /// The stream already started (it was subscribed before the persister got it).
    Started,
}

impl ShapeStreamDriver {
    /// Attach a tap (replacing any earlier one) and return it.
    pub(crate) fn persist_tap(&self) -> TapRef {
        let tap: TapRef = Rc::default();
        self.inner.core.borrow_mut().tap = Some(tap.clone());
        tap
    }

    /// Read the committed rows and schema (for a checkpoint) without copying the map.
    pub(crate) fn persist_read<R>(&self, f: impl FnOnce(&Materializer, Option<&Schema>) -> R) -> R {
        let core = self.inner.core.borrow();
        f(&core.rows, core.schema.as_deref())
    }

    /// Install stored rows and resume from the stored position. Only before `start()`.
    pub(crate) fn persist_restore(
        &self,
        handle: String,
        offset: Offset,
        schema: Option<Schema>,
        rows: Vec<ChangeMessage>,
    ) -> Result<(), RestoreRefused> {
        let mut core = self.inner.core.borrow_mut();
        if core.started || core.closed {
            return Err(RestoreRefused::Started);
        }
        let config: StreamConfig = core.config.clone().resume(handle, offset);
        // The stored position came from this very shape: the config checks cannot fail here,
        // but a refusal keeps the fresh stream rather than panicking.
        let Ok(machine) = ShapeStream::new(config, Box::new(SplitMix64::new(env::seed()))) else {
            return Err(RestoreRefused::Started);
        };
        core.machine = machine;
        let options = *core.rows.options();
        core.rows = Materializer::from_snapshot(options, rows);
        if let Some(s) = schema {
            core.schema = Some(Arc::new(s));
        }
        Ok(())
    }
}

impl ShapeStreamDriver {
    /// Add the rest of a restore read in parts (after [`ShapeStreamDriver::persist_restore`]
    /// with its first pages). Only before `start()`.
    pub(crate) fn persist_extend(&self, rows: Vec<ChangeMessage>) -> Result<(), RestoreRefused> {
        let mut core = self.inner.core.borrow_mut();
        if core.started || core.closed {
            return Err(RestoreRefused::Started);
        }
        core.rows.extend_snapshot(rows);
        Ok(())
    }

    /// Forget a restore that turned out unusable halfway (a later page is corrupt or gone):
    /// no rows, no stored position, the stream starts from scratch. Only before `start()`.
    pub(crate) fn persist_discard(&self) -> Result<(), RestoreRefused> {
        let mut core = self.inner.core.borrow_mut();
        if core.started || core.closed {
            return Err(RestoreRefused::Started);
        }
        let Ok(machine) = ShapeStream::new(core.config.clone(), Box::new(SplitMix64::new(env::seed())))
        else {
            return Err(RestoreRefused::Started);
        };
        core.machine = machine;
        let options = *core.rows.options();
        core.rows = Materializer::with_options(options);
        core.schema = None;
        Ok(())
    }

    /// Another handle on the same driver (the persister keeps one).
    pub(crate) fn persist_handle(&self) -> ShapeStreamDriver {
        ShapeStreamDriver {
            inner: self.inner.clone(),
        }
    }

    /// The shape definition.
    pub(crate) fn persist_definition(&self) -> crate::protocol::request::ShapeDefinition {
        self.inner.core.borrow().machine.shape().clone()
    }
}
