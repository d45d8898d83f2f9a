//! `ShapeStreamDriver`: the browser shell around the sans-IO [`ShapeStream`] and a
//! [`Materializer`]. It has no protocol logic: it feeds [`Input`]s in and carries out the
//! [`Effect`]s that come back (fetch, timers, deliveries), and listens to the page lifecycle.
//!
//! Re-entrancy rule: JS is never called while the core is borrowed. Deliveries, status changes
//! and errors are queued as notes while effects run, and [`flush`] hands all notes of one
//! dispatch to the JS listener in **one** call, after every borrow has ended. Rows are typed into
//! JS objects only when JS reads them (`rows()`, `entries()`, `MessageBatch.messages()`).

mod batch;
mod body_read;
mod env;
mod fetch_fn;
mod http;
mod io;
mod notes;
mod options;
pub(crate) mod persist_hook;
mod prefetch;
mod rows_read;
mod shape_def;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, EventTarget, Headers};

pub use batch::MessageBatch;
pub(crate) use env::{now_ms, warn, warn_value};
pub use options::{OptionsError, Transport};

use super::convert::{row_to_js_cached, KeyCache};
use super::error::to_js_error;
use super::ws;
use crate::log::{Materializer, MaterializerOptions, Mode};
use crate::protocol::request::{LogMode, ShapeDefinition};
use crate::protocol::{Key, Message, Parsers, Schema};
use crate::stream::{Effect, Input, RequestId, ShapeStream, SplitMix64, Status, StreamConfig, TimerId};
use notes::Note;

/// The last response seen, for the `url` and `headers` of a `FetchError`.
#[derive(Debug, Clone)]
pub(crate) struct LastResponse {
    url: String,
    status: u16,
    headers: Headers,
}

/// Everything behind the borrow.
#[derive(Debug)]
pub(crate) struct Core {
    machine: ShapeStream,
    rows: Materializer,
    schema: Option<Arc<Schema>>,
    parsers: Parsers,
    keys: KeyCache,
    base_url: String,
    headers: Vec<(String, String)>,
    headers_provider: Option<Function>,
    /// `fetch` instead of the global one (`fetchClient`, or the facade's worker fetch), and
    /// whether only for catch-up requests (see `fetch_fn`).
    fetch_fn: Option<Function>,
    fetch_catch_up_only: bool,
    /// The shape definition requests are built from (the options', or the last one `onError`
    /// set); the machine's own copy is only its starting point.
    shape: ShapeDefinition,
    /// Resolves the definition before every request (`params` holding (async) functions).
    shape_provider: Option<Function>,
    /// Body bytes read since the last batch note (progress).
    bytes_pending: u64,
    /// The shared socket of `transport: 'websocket'` (HTTP is used once it proved unusable).
    ws: Option<ws::Link>,
    requests: HashMap<RequestId, AbortController>,
    sse_requests: HashSet<RequestId>,
    timers: HashMap<TimerId, JsValue>,
    last_response: Option<LastResponse>,
    /// The next catch-up request, started from the headers of the current one.
    prefetch: Option<prefetch::Prefetch>,
    want_messages: bool,
    want_keys: bool,
    started: bool,
    closed: bool,
    /// The configuration the machine was built from (a persister resumes it elsewhere).
    config: StreamConfig,
    /// Set by a persister: records committed change sets (see `persist_hook`).
    tap: Option<persist_hook::TapRef>,
}

type Listener = (EventTarget, &'static str, Closure<dyn FnMut()>);

/// The shared state; futures and callbacks hold it weakly.
pub(crate) struct Inner {
    core: RefCell<Core>,
    queue: RefCell<VecDeque<Effect>>,
    blocked: Cell<bool>,
    notes: RefCell<Vec<Note>>,
    /// The facade's note listener; dropped once the stream is closed and its last notes went
    /// out, so nothing in Rust keeps the JS stream object alive after an abort.
    listener: RefCell<Option<Function>>,
    timer_cb: Closure<dyn FnMut(f64)>,
    page: RefCell<Vec<Listener>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        release(self);
    }
}

/// Abort every request, clear every timer and remove the page listeners. Everything is taken
/// out under the borrows first; the JS calls happen after they ended.
fn release(inner: &Inner) {
    let (requests, timers, link) = {
        let mut core = inner.core.borrow_mut();
        let link = core.ws.take();
        if let Some(p) = core.prefetch.take() {
            p.abort();
        }
        core.sse_requests.clear();
        let requests: Vec<AbortController> = core.requests.drain().map(|(_, c)| c).collect();
        let timers: Vec<JsValue> = core.timers.drain().map(|(_, t)| t).collect();
        (requests, timers, link)
    };
    if let Some(link) = link {
        ws::detach(&link);
    }
    let page = std::mem::take(&mut *inner.page.borrow_mut());
    for c in requests {
        c.abort();
    }
    for t in timers {
        env::clear_timeout(&t);
    }
    for (target, event, cb) in page {
        let _ = target.remove_event_listener_with_callback(event, cb.as_ref().unchecked_ref());
    }
}

/// Run inputs through the machine, carry out the effects, then notify JS once.
///
/// Backpressure (as the official client): when the listener answers a delivery with a promise
/// (a subscriber is still busy with the batch), the effects after it (the next request) wait in
/// the queue until it settles; effects of inputs arriving meanwhile queue behind them, so their
/// order is kept. `Abort` jumps the queue.
pub(crate) fn dispatch(inner: &Rc<Inner>, inputs: Vec<Input>) {
    let mut aborting = false;
    let effects: Vec<Effect> = {
        let mut core = inner.core.borrow_mut();
        if core.closed {
            return;
        }
        let now = env::now_ms();
        let mut all = Vec::new();
        for input in inputs {
            let abort = matches!(input, Input::Abort);
            all.extend(core.machine.handle(now, input));
            aborting |= abort;
        }
        // Done (aborted, or `subscribe: false` and up to date) is final: release everything.
        core.closed = core.machine.status() == Status::Closed;
        all
    };
    {
        let mut queue = inner.queue.borrow_mut();
        if aborting {
            queue.clear();
        }
        queue.extend(effects);
    }
    if inner.blocked.get() && !aborting {
        let _ = flush(inner);
        return;
    }
    drain(inner);
}

/// Execute queued effects in order, pausing after a delivery whose consumers are still busy.
fn drain(inner: &Rc<Inner>) {
    loop {
        let next = inner.queue.borrow_mut().pop_front();
        let Some(effect) = next else { break };
        let delivery = matches!(effect, Effect::Deliver(_) | Effect::MustRefetch { .. });
        execute(inner, effect);
        if delivery && !inner.queue.borrow().is_empty() {
            if let Some(busy) = flush(inner) {
                inner.blocked.set(true);
                let weak = Rc::downgrade(inner);
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = JsFuture::from(busy).await;
                    if let Some(inner) = weak.upgrade() {
                        inner.blocked.set(false);
                        drain(&inner);
                    }
                });
                return;
            }
        }
    }
    let closed = inner.core.borrow().closed;
    if closed {
        release(inner);
    }
    let _ = flush(inner);
    if closed {
        inner.listener.borrow_mut().take();
    }
}

fn execute(inner: &Rc<Inner>, effect: Effect) {
    match effect {
        Effect::IssueRequest {
            request_id,
            params,
            kind,
            ..
        } => {
            let (socket, dropped) = {
                let mut core = inner.core.borrow_mut();
                // A browser WebSocket cannot carry request headers (auth tokens...): HTTP then.
                // Nor can it wait for a params provider: HTTP too.
                let dropped = core.ws.is_some()
                    && (!core.headers.is_empty()
                        || core.headers_provider.is_some()
                        || core.shape_provider.is_some());
                if dropped {
                    core.ws = None;
                }
                let socket = core
                    .ws
                    .clone()
                    .filter(ws::usable)
                    .map(|link| (link, core.shape.clone()));
                (socket, dropped)
            };
            if dropped {
                env::warn(
                    "eddy: transport 'websocket' cannot send request headers or function params; this stream uses HTTP",
                );
            }
            match socket {
                Some((link, shape)) => {
                    let client: Weak<dyn ws::Client> = Rc::downgrade(inner) as Weak<Inner>;
                    ws::request(&link, client, &shape, request_id, params, kind);
                }
                None => http::issue(inner, request_id, params, kind),
            }
        }
        Effect::CancelRequest { request_id } => {
            let c = {
                let mut core = inner.core.borrow_mut();
                if let Some(link) = &core.ws {
                    ws::cancel(link, request_id);
                }
                core.sse_requests.remove(&request_id);
                core.requests.remove(&request_id)
            };
            if let Some(c) = c {
                c.abort();
            }
        }
        Effect::StartTimer { timer_id, delay_ms } => {
            let cb: &Function = inner.timer_cb.as_ref().unchecked_ref();
            let handle = env::set_timeout_with_arg(cb, delay_ms as f64, timer_id.0 as f64);
            inner.core.borrow_mut().timers.insert(timer_id, handle);
        }
        Effect::CancelTimer { timer_id } => {
            if let Some(t) = inner.core.borrow_mut().timers.remove(&timer_id) {
                env::clear_timeout(&t);
            }
        }
        Effect::Deliver(batch) => {
            let note = {
                let mut core = inner.core.borrow_mut();
                if let Some(s) = &batch.schema {
                    core.schema = Some(s.clone());
                }
                let messages = core.want_messages.then(|| batch.messages.clone());
                let changes_received = batch
                    .messages
                    .iter()
                    .filter(|m| matches!(m, Message::Change(_)))
                    .count();
                let (handle, offset, up_to_date) = (batch.handle, batch.offset, batch.up_to_date);
                let changes = core.rows.ingest(batch.messages);
                persist_hook::on_deliver(&core, &handle, offset, up_to_date, changes.as_ref());
                let schema = core.schema.clone();
                let bytes = std::mem::take(&mut core.bytes_pending);
                Note::Batch {
                    batch: messages.map(|m| MessageBatch::new(m, schema, core.parsers.clone())),
                    changes_received,
                    bytes,
                    with_keys: core.want_keys,
                    up_to_date,
                    changes,
                }
            };
            inner.notes.borrow_mut().push(note);
        }
        Effect::MustRefetch { handle } => {
            {
                let mut core = inner.core.borrow_mut();
                core.rows.must_refetch();
                persist_hook::on_must_refetch(&core);
            }
            inner.notes.borrow_mut().push(Note::MustRefetch { handle });
        }
        Effect::StatusChanged(s) => inner.notes.borrow_mut().push(Note::Status(s)),
        Effect::UpToDate => inner.notes.borrow_mut().push(Note::UpToDate),
        Effect::Failed(err) => {
            let last = inner.core.borrow().last_response.clone();
            inner.notes.borrow_mut().push(Note::Failed(err, last));
        }
    }
}

/// Hand the queued notes to the JS listener in one call (no borrow is held). Returns the
/// listener's promise when it answered with one (a subscriber is still busy).
fn flush(inner: &Rc<Inner>) -> Option<Promise> {
    let notes = std::mem::take(&mut *inner.notes.borrow_mut());
    if notes.is_empty() {
        return None;
    }
    let arr: Array = notes.into_iter().map(Note::into_js).collect();
    let listener = inner.listener.borrow().clone()?;
    match listener.call1(&JsValue::UNDEFINED, &arr) {
        Ok(r) if r.is_instance_of::<Promise>() => Some(r.unchecked_into()),
        Ok(_) => None,
        Err(e) => {
            web_sys::console::error_2(&JsValue::from_str("eddy: stream listener threw"), &e);
            None
        }
    }
}

/// The browser shell of one shape stream. Built by the TypeScript `ShapeStream`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct ShapeStreamDriver {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl ShapeStreamDriver {
    /// Build from the facade's options document (JSON) and a listener that receives arrays of
    /// notes (`{type: "batch" | "must-refetch" | "status" | "up-to-date" | "error", ...}`).
    /// Throws a typed error (`InvalidShapeOptionsError`, `MissingShapeHandleError`,
    /// `ReservedParamError`, ...) with a `code` for bad options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &str, listener: Function) -> Result<ShapeStreamDriver, JsValue> {
        let parsed = options::parse(options).map_err(|e| to_js_error(&e))?;
        let ws = (parsed.transport == Transport::WebSocket)
            .then(|| ws::link(&parsed.base_url, &parsed.config.shape.extra));
        let mut parsers = Parsers::default();
        for name in &parsed.parsers {
            parsers.leave_as_text(name);
        }
        let shape = parsed.config.shape.clone();
        let mode = match parsed.config.shape.log {
            LogMode::Full => Mode::Full,
            LogMode::ChangesOnly => Mode::ChangesOnly,
        };
        let config = parsed.config.clone();
        let machine = ShapeStream::new(parsed.config, Box::new(SplitMix64::new(env::seed())))
            .map_err(|e| to_js_error(&e))?;
        let core = Core {
            machine,
            rows: Materializer::with_options(MaterializerOptions { mode }),
            schema: None,
            parsers,
            keys: KeyCache::default(),
            base_url: parsed.base_url,
            headers: parsed.headers,
            headers_provider: None,
            fetch_fn: None,
            fetch_catch_up_only: false,
            shape,
            shape_provider: None,
            bytes_pending: 0,
            ws,
            requests: HashMap::new(),
            sse_requests: HashSet::new(),
            timers: HashMap::new(),
            last_response: None,
            prefetch: None,
            want_messages: false,
            want_keys: false,
            started: false,
            closed: false,
            config,
            tap: None,
        };
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| {
            let w = weak.clone();
            let timer_cb = Closure::new(move |id: f64| {
                if let Some(inner) = w.upgrade() {
                    let timer_id = TimerId(id as u64);
                    inner.core.borrow_mut().timers.remove(&timer_id);
                    dispatch(&inner, vec![Input::TimerFired { timer_id }]);
                }
            });
            Inner {
                core: RefCell::new(core),
                queue: RefCell::new(VecDeque::new()),
                blocked: Cell::new(false),
                notes: RefCell::new(Vec::new()),
                listener: RefCell::new(Some(listener)),
                timer_cb,
                page: RefCell::new(Vec::new()),
            }
        });
        Ok(ShapeStreamDriver { inner })
    }

    /// Start syncing (idempotent): listen to visibility and online/offline, then go.
    pub fn start(&self) {
        {
            let mut core = self.inner.core.borrow_mut();
            if core.started || core.closed {
                return;
            }
            core.started = true;
        }
        self.listen();
        let mut inputs = Vec::new();
        if !env::page_visible() {
            inputs.push(Input::VisibilityChanged { visible: false });
        }
        if !env::online() {
            inputs.push(Input::Offline);
        }
        inputs.push(Input::Start);
        dispatch(&self.inner, inputs);
    }

    fn listen(&self) {
        let mut page = Vec::new();
        let mut add = |target: Option<EventTarget>, event: &'static str, make: fn() -> Input| {
            let Some(target) = target else { return };
            let w = Rc::downgrade(&self.inner);
            let cb: Closure<dyn FnMut()> = Closure::new(move || {
                if let Some(inner) = w.upgrade() {
                    dispatch(&inner, vec![make()]);
                }
            });
            if target
                .add_event_listener_with_callback(event, cb.as_ref().unchecked_ref())
                .is_ok()
            {
                page.push((target, event, cb));
            }
        };
        add(env::document(), "visibilitychange", || Input::VisibilityChanged {
            visible: env::page_visible(),
        });
        add(env::global_target(), "online", || Input::Online);
        add(env::global_target(), "offline", || Input::Offline);
        self.inner.page.borrow_mut().extend(page);
    }

    /// Stop for good: abort the request in flight, clear timers, remove listeners.
    pub fn abort(&self) {
        dispatch(&self.inner, vec![Input::Abort]);
        release(&self.inner);
        self.inner.core.borrow_mut().closed = true;
        self.inner.listener.borrow_mut().take();
    }

    /// Drop the live request and catch up with a non-live one.
    #[wasm_bindgen(js_name = forceRefresh)]
    pub fn force_refresh(&self) {
        dispatch(&self.inner, vec![Input::ForceRefresh]);
    }

    /// After an `error` note, the user's `onError` asked to go on.
    #[wasm_bindgen(js_name = retryAfterError)]
    pub fn retry_after_error(&self) {
        dispatch(&self.inner, vec![Input::RetryAfterError]);
    }

    /// Simulate a page lifecycle event (`visible`), for tests and host frameworks.
    #[wasm_bindgen(js_name = setVisible)]
    pub fn set_visible(&self, visible: bool) {
        dispatch(&self.inner, vec![Input::VisibilityChanged { visible }]);
    }

    /// Replace the request headers (from `onError`'s `{headers}`), as `[name, value]` pairs.
    #[wasm_bindgen(js_name = setHeaders)]
    pub fn set_headers(&self, names: Vec<String>, values: Vec<String>) {
        let mut core = self.inner.core.borrow_mut();
        core.headers = names.into_iter().zip(values).collect();
        core.headers_provider = None;
    }

    /// Evaluate the headers before every request with `provider()`, which returns (a promise
    /// of) an array of `[name, value]` pairs; for header values given as (async) functions.
    /// A provider that throws or rejects counts as a network failure (retried with backoff).
    #[wasm_bindgen(js_name = setHeadersProvider)]
    pub fn set_headers_provider(&self, provider: Function) {
        self.inner.core.borrow_mut().headers_provider = Some(provider);
    }

    /// Whether batch notes carry their messages (only needed when a stream subscriber reads
    /// them; a `Shape` alone reads rows).
    #[wasm_bindgen(js_name = setWantMessages)]
    pub fn set_want_messages(&self, want: bool) {
        self.inner.core.borrow_mut().want_messages = want;
    }

    /// Whether committed batch notes list the changed keys (a `Shape` that already built its
    /// JS rows patches them; before that, nobody needs the keys).
    #[wasm_bindgen(js_name = setWantKeys)]
    pub fn set_want_keys(&self, want: bool) {
        self.inner.core.borrow_mut().want_keys = want;
    }

    /// `connecting`, `syncing`, `live`, `paused`, `offline`, `error` or `closed`.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> String {
        self.inner.core.borrow().machine.status().as_str().to_owned()
    }

    /// The committed offset (the next request's).
    #[wasm_bindgen(getter)]
    pub fn offset(&self) -> String {
        self.inner.core.borrow().machine.offset().to_string()
    }

    /// The shape handle, if known.
    #[wasm_bindgen(getter)]
    pub fn handle(&self) -> Option<String> {
        self.inner.core.borrow().machine.shape_handle().map(str::to_owned)
    }

    /// An up-to-date was reached since the start or the last must-refetch.
    #[wasm_bindgen(getter, js_name = isUpToDate)]
    pub fn is_up_to_date(&self) -> bool {
        self.inner.core.borrow().machine.is_up_to_date()
    }

    /// Number of committed rows.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.inner.core.borrow().rows.len()
    }

    /// Committed rows as typed objects, in one call.
    pub fn rows(&self) -> Result<Array, JsValue> {
        let core = self.inner.core.borrow();
        let empty = Schema::default();
        let schema = core.schema.as_deref().unwrap_or(&empty);
        core.rows
            .rows()
            .map(|(_, row)| {
                row_to_js_cached(schema, row, &core.parsers, &core.keys).map_err(|e| to_js_error(&e))
            })
            .collect()
    }

    /// Committed rows as `[key, row]` pairs (for a `Map`), in one call.
    pub fn entries(&self) -> Result<Array, JsValue> {
        let core = self.inner.core.borrow();
        let empty = Schema::default();
        let schema = core.schema.as_deref().unwrap_or(&empty);
        core.rows
            .rows()
            .map(|(key, row)| {
                let row =
                    row_to_js_cached(schema, row, &core.parsers, &core.keys).map_err(|e| to_js_error(&e))?;
                Ok::<JsValue, JsValue>(Array::of2(&JsValue::from_str(key.as_str()), &row).into())
            })
            .collect()
    }

    /// Committed rows for these keys, typed, in one call (`undefined` for an absent key).
    #[wasm_bindgen(js_name = getMany)]
    pub fn get_many(&self, keys: Vec<String>) -> Result<Array, JsValue> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// One committed row by key, typed; `undefined` when absent.
    pub fn get(&self, key: &str) -> Result<JsValue, JsValue> {
        let core = self.inner.core.borrow();
        let empty = Schema::default();
        let schema = core.schema.as_deref().unwrap_or(&empty);
        match core.rows.get(&Key::from(key)) {
            Some(row) => {
                row_to_js_cached(schema, row, &core.parsers, &core.keys).map_err(|e| to_js_error(&e))
            }
            None => Ok(JsValue::UNDEFINED),
        }
    }
}
