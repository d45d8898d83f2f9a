//! Shared server state: the store, the registry of live handles, the change signal that wakes
//! live requests, and the counters behind limits, etags and cursors.
//!
//! Handle registry rules: one current handle per shape definition; a handle is
//! `<hash>-<microsecond timestamp>` and never reused (timestamps strictly increase). Rotating
//! (DELETE) or truncating drops handles; requests with a dropped handle get 409 and the
//! definition's new handle. On startup, handles persisted in the data file are loaded back
//! with their snapshots, so a restarted server resumes them. At most `--max-shapes` handles
//! exist; creating one more evicts the oldest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::config::Config;
use crate::ident::quote_ident;
use crate::shape::{DefLimits, DefParams, LogMode, Replica, Shape, ShapeDef};
use crate::store::{SnapshotInfo, Store, StoreError};

/// One materialised shape.
#[derive(Debug)]
pub struct ShapeEntry {
    /// Its handle.
    pub handle: String,
    /// The compiled definition.
    pub shape: Shape,
    /// Snapshot position and size.
    pub info: SnapshotInfo,
}

/// Which shape a request talks to, or the 409 it gets.
#[derive(Debug)]
pub enum Resolved {
    /// The request's handle (or the definition's current one when none was given).
    Entry(Arc<ShapeEntry>),
    /// Unknown, rotated or mismatched handle: refetch with this one.
    Conflict(String),
}

/// Handles by definition and by id.
#[derive(Debug, Default)]
pub struct Registry {
    by_def: HashMap<String, String>,
    by_handle: HashMap<String, Arc<ShapeEntry>>,
    last_us: u64,
}

impl Registry {
    /// A shape by handle.
    pub fn get(&self, handle: &str) -> Option<Arc<ShapeEntry>> {
        self.by_handle.get(handle).cloned()
    }

    /// The current shape of a definition.
    pub fn current(&self, def: &ShapeDef) -> Option<Arc<ShapeEntry>> {
        self.by_def.get(&def.canonical()).and_then(|h| self.get(h))
    }

    fn insert(&mut self, e: Arc<ShapeEntry>) {
        self.by_def.insert(e.shape.def.canonical(), e.handle.clone());
        self.by_handle.insert(e.handle.clone(), e);
    }

    /// Drop a handle; returns it if it existed.
    pub fn remove(&mut self, handle: &str) -> Option<Arc<ShapeEntry>> {
        let e = self.by_handle.remove(handle)?;
        let canon = e.shape.def.canonical();
        if self.by_def.get(&canon).map(String::as_str) == Some(handle) {
            self.by_def.remove(&canon);
        }
        Some(e)
    }

    /// Handles of every shape on `table`.
    pub fn handles_of_table(&self, table: &str) -> Vec<String> {
        self.by_handle
            .values()
            .filter(|e| e.shape.def.table == table)
            .map(|e| e.handle.clone())
            .collect()
    }

    fn new_handle(&mut self, def: &ShapeDef) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        self.last_us = now.max(self.last_us + 1);
        format!("{}-{}", def.hash(), self.last_us)
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Settings.
    pub config: Config,
    /// The store.
    pub store: Store,
    registry: Mutex<Registry>,
    /// Bumped on every commit and every handle drop; live requests wait on it.
    pub changes: watch::Sender<u64>,
    /// Live requests in flight.
    pub live: AtomicUsize,
    /// Log reads shared by requests waiting on the same shape and offset.
    pub log_cache: crate::logcache::LogCache,
    /// Requests seen by the fault layer.
    pub fault_counter: crate::faults::FaultCounter,
    /// Last subset snapshot mark handed out.
    pub snapshot_mark: AtomicU64,
    /// Makes empty responses' etags unique.
    pub etag_seq: AtomicU64,
    rng: AtomicU64,
}

impl AppState {
    /// Build the state and load persisted handles.
    pub fn new(config: Config, store: Store) -> Result<AppState, StoreError> {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        let state = AppState {
            config,
            store,
            registry: Mutex::new(Registry::default()),
            changes: watch::channel(0).0,
            live: AtomicUsize::new(0),
            log_cache: crate::logcache::LogCache::default(),
            fault_counter: crate::faults::FaultCounter::default(),
            snapshot_mark: AtomicU64::new(0),
            etag_seq: AtomicU64::new(0),
            rng: AtomicU64::new(seed),
        };
        state.load_persisted()?;
        Ok(state)
    }

    /// Limits for parsing definitions.
    pub fn def_limits(&self) -> DefLimits {
        DefLimits {
            max_where_bytes: self.config.max_where_bytes,
        }
    }

    /// The registry (poison-tolerant: it holds no invariant a panic can break halfway).
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load_persisted(&self) -> Result<(), StoreError> {
        let mut reg = self.registry();
        for s in self.store.shapes()? {
            let shape = ShapeDef::from_canonical(&s.def).and_then(|def| self.recompile(&def));
            match shape {
                Some(shape) => {
                    let ts = s
                        .handle
                        .rsplit('-')
                        .next()
                        .and_then(|t| t.parse::<u64>().ok())
                        .unwrap_or(0);
                    reg.last_us = reg.last_us.max(ts);
                    reg.insert(Arc::new(ShapeEntry {
                        handle: s.handle,
                        shape,
                        info: s.info,
                    }));
                }
                None => self.store.drop_shape(&s.handle)?,
            }
        }
        Ok(())
    }

    fn recompile(&self, def: &ShapeDef) -> Option<Shape> {
        let columns = def
            .columns
            .as_ref()
            .map(|c| c.iter().map(|n| quote_ident(n)).collect::<Vec<_>>().join(","));
        let table = quote_ident(&def.table);
        let p = DefParams {
            table: Some(&table),
            where_sql: def.where_sql.as_deref(),
            params: def.params.clone(),
            columns: columns.as_deref(),
            replica: Some(if def.replica == Replica::Full {
                "full"
            } else {
                "default"
            }),
            log: Some(if def.log == LogMode::ChangesOnly {
                "changes_only"
            } else {
                "full"
            }),
        };
        Shape::from_params(
            &p,
            self.store.catalog(),
            DefLimits {
                max_where_bytes: usize::MAX,
            },
        )
        .ok()
    }

    /// The current shape for the definition, creating (snapshotting) it if needed.
    pub fn get_or_create(&self, shape: &Shape) -> Result<Arc<ShapeEntry>, StoreError> {
        let mut reg = self.registry();
        if let Some(e) = reg.current(&shape.def) {
            return Ok(e);
        }
        // Bound the number of materialised shapes: evict the oldest (its clients get 409 and
        // refetch), as Electric's shape cleanup would.
        while reg.by_handle.len() >= self.config.max_shapes {
            let oldest = reg
                .by_handle
                .keys()
                .min_by_key(|h| {
                    h.rsplit('-')
                        .next()
                        .and_then(|t| t.parse::<u64>().ok())
                        .unwrap_or(0)
                })
                .cloned();
            let Some(h) = oldest else { break };
            reg.remove(&h);
            self.store.drop_shape(&h)?;
            self.notify();
        }
        let handle = reg.new_handle(&shape.def);
        let info = self
            .store
            .create_snapshot(shape, &handle, self.config.chunk_bytes)?;
        let e = Arc::new(ShapeEntry {
            handle,
            shape: shape.clone(),
            info,
        });
        reg.insert(e.clone());
        Ok(e)
    }

    /// The shape a request names: with a `handle` it must exist and match the definition
    /// (else 409 with the definition's current handle); without one (offset `-1`/`now`) the
    /// definition's current shape, created if needed.
    pub fn resolve(&self, shape: &Shape, handle: Option<&str>) -> Result<Resolved, StoreError> {
        if let Some(h) = handle {
            let found = self.registry().get(h);
            if let Some(e) = found.filter(|e| e.shape.def == shape.def) {
                return Ok(Resolved::Entry(e));
            }
            return Ok(Resolved::Conflict(self.get_or_create(shape)?.handle.clone()));
        }
        Ok(Resolved::Entry(self.get_or_create(shape)?))
    }

    /// Drop handles (rotation, truncate) and wake live requests.
    pub fn drop_handles(&self, handles: &[String]) -> Result<(), StoreError> {
        {
            let mut reg = self.registry();
            for h in handles {
                reg.remove(h);
                self.store.drop_shape(h)?;
            }
        }
        self.notify();
        Ok(())
    }

    /// Wake every live request.
    pub fn notify(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A pseudo-random number in `1..=n` (xorshift; only used to perturb cursors).
    pub fn random(&self, n: u64) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        x % n.max(1) + 1
    }

    /// Reserve a live slot, or `None` when the limit is reached.
    pub fn try_live(self: &Arc<Self>) -> Option<LiveGuard> {
        let prev = self.live.fetch_add(1, Ordering::SeqCst);
        if prev >= self.config.max_live {
            self.live.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(LiveGuard(self.clone()))
    }
}

/// Holds one live slot until dropped.
#[derive(Debug)]
pub struct LiveGuard(Arc<AppState>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}
