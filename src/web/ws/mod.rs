//! The WebSocket transport: every stream of a page that asked for `transport: 'websocket'`
//! shares ONE socket per `/v1/ws` URL (a thread-local registry). The machine still issues
//! `IssueRequest`s; this manager answers each with the next received `batch` of the stream's
//! subscription when it continues exactly where the request starts, and (re)subscribes at the
//! requested handle/offset otherwise (the first request, after a 409, after a reconnect). No
//! protocol decision is made here: frames become the inputs the same HTTP answer would give
//! ([`frame::to_input`]).
//!
//! Liveness: the server sends nothing while a shape is idle, so a live request may wait for
//! ever. The machine's live watchdog may still fire: its `CancelRequest` only forgets the
//! waiting request (the subscription stays) and the re-issued request at the same position is
//! answered by the same subscription, so it costs nothing. A dead socket is found by an
//! application `ping` every [`PING_EVERY_MS`]: when no frame at all arrived since the previous
//! ping, the socket is closed and every waiting request gets a `NetworkError` (the machine
//! backs off and re-issues; the re-issue opens a new socket and resubscribes at its offset).
//!
//! Fallback: a socket that never opens on a URL that never had an open socket on this page
//! (no `/v1/ws`, a proxy refusing upgrades, or one that forwards the upgrade request but never
//! completes the handshake, cut after [`CONNECT_TIMEOUT_MS`]) marks the URL as unusable: the
//! waiting requests and all later ones of those streams go over HTTP, with a console note. On
//! a URL that did open before (the server restarts, a network blip), a failed or timed-out
//! connection is a `NetworkError` instead: the machine backs off and re-issues, and the
//! re-issue tries a new socket and resubscribes at its offset.

pub mod frame;
pub mod wire;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::{Rc, Weak};

use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WebSocket};

use crate::protocol::request::{RequestParams, ShapeDefinition};
use crate::protocol::response::RequestKind;
use crate::stream::{Input, RequestId};
use frame::Frame;
use wire::{control_frame, same_pos, subscribe_frame, ws_url, Pos};

/// Subscriptions per socket (the server's limit); one more stream opens another socket.
pub const MAX_SUBSCRIPTIONS: usize = 64;

/// Interval of the application-level liveness ping, in ms.
pub const PING_EVERY_MS: u64 = 20_000;

/// How long a socket may stay connecting before it counts as failed, in ms. Browsers have no
/// handshake timeout of their own: without this, a proxy that swallows the upgrade request
/// would leave the stream `connecting` for ever.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// Frames a subscription keeps for a stream that is not asking (a paused stream of a hidden
/// page). Past this the subscription is dropped on the server and its frames here; the stream's
/// next request subscribes again from its own offset, so nothing is lost and memory stays
/// bounded however long the page is hidden.
pub const MAX_QUEUED_FRAMES: usize = 256;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setInterval)]
    fn set_interval(cb: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearInterval)]
    fn clear_interval(handle: &JsValue);
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(cb: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
}

/// What the manager needs from a stream's driver.
pub trait Client {
    /// Feed inputs to the stream's machine (called with no manager borrow held).
    fn inputs(self: Rc<Self>, inputs: Vec<Input>);
    /// Carry out this request over HTTP instead (the socket is unusable for good).
    fn fallback(self: Rc<Self>, request_id: RequestId, params: RequestParams, kind: RequestKind);
}

/// A stream's place in the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The `/v1/ws` URL.
    pub url: String,
    /// The stream's key.
    pub key: u64,
}

struct Waiting {
    request_id: RequestId,
    params: RequestParams,
    kind: RequestKind,
}

struct Sub {
    client: Weak<dyn Client>,
    shape: ShapeDefinition,
    /// The current subscription id, while it runs.
    id: Option<String>,
    /// Received frames not yet handed out, each with the position it starts at.
    queue: VecDeque<(Pos, Frame)>,
    /// Where the next received batch starts.
    next: Pos,
    waiting: Option<Waiting>,
}

struct State {
    open: bool,
    outbox: Vec<String>,
    subs: HashMap<u64, Sub>,
    by_id: HashMap<String, u64>,
    heard: bool,
    ping: Option<JsValue>,
    /// The connect timeout, until the socket opens or closes.
    connect: Option<JsValue>,
}

type Handler = Closure<dyn FnMut(JsValue)>;

struct Socket {
    url: String,
    ws: WebSocket,
    state: RefCell<State>,
    handlers: RefCell<Vec<Handler>>,
    pinger: RefCell<Option<Closure<dyn FnMut()>>>,
}

thread_local! {
    static SOCKETS: RefCell<HashMap<String, Vec<Rc<Socket>>>> = RefCell::new(HashMap::new());
    static UNUSABLE: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
    static OPENED: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
    static NEXT: Cell<u64> = const { Cell::new(1) };
}

fn next_number() -> u64 {
    NEXT.with(|n| {
        let v = n.get();
        n.set(v + 1);
        v
    })
}

/// A new link for a stream (nothing is opened before its first request).
pub fn link(shape_url: &str, extra: &BTreeMap<String, String>) -> Link {
    Link {
        url: ws_url(shape_url, extra),
        key: next_number(),
    }
}

/// Whether the socket of this URL may still be tried.
pub fn usable(link: &Link) -> bool {
    !UNUSABLE.with(|u| u.borrow().contains(&link.url))
}

impl Socket {
    fn send(&self, text: String) {
        let open = self.state.borrow().open;
        if open {
            let _ = self.ws.send_with_str(&text);
        } else {
            self.state.borrow_mut().outbox.push(text);
        }
    }
}

/// The socket holding this stream's subscription, if any.
fn find(link: &Link) -> Option<Rc<Socket>> {
    SOCKETS.with(|all| {
        all.borrow()
            .get(&link.url)?
            .iter()
            .find(|s| s.state.borrow().subs.contains_key(&link.key))
            .cloned()
    })
}

/// The stream's socket, else one of the URL with a free slot, else a new one.
fn socket_for(link: &Link) -> Option<Rc<Socket>> {
    if let Some(s) = find(link) {
        return Some(s);
    }
    let url = link.url.as_str();
    let free = SOCKETS.with(|all| {
        all.borrow()
            .get(url)?
            .iter()
            .find(|s| s.state.borrow().subs.len() < MAX_SUBSCRIPTIONS)
            .cloned()
    });
    if free.is_some() {
        return free;
    }
    let ws = match WebSocket::new(url) {
        Ok(ws) => ws,
        Err(e) => {
            super::driver::warn_value("eddy: could not create a WebSocket", &e);
            return None;
        }
    };
    let socket = Rc::new(Socket {
        url: url.to_owned(),
        ws,
        state: RefCell::new(State {
            open: false,
            outbox: Vec::new(),
            subs: HashMap::new(),
            by_id: HashMap::new(),
            heard: true,
            ping: None,
            connect: None,
        }),
        handlers: RefCell::new(Vec::new()),
        pinger: RefCell::new(None),
    });
    let weak = Rc::downgrade(&socket);
    let on_open = {
        let w = weak.clone();
        Closure::new(move |_: JsValue| {
            if let Some(s) = w.upgrade() {
                opened(&s);
            }
        })
    };
    let on_message = {
        let w = weak.clone();
        Closure::new(move |ev: JsValue| {
            let Some(s) = w.upgrade() else { return };
            let data = ev.unchecked_into::<MessageEvent>().data();
            if let Some(text) = data.as_string() {
                received(&s, &text);
            }
        })
    };
    let on_close = {
        let w = weak.clone();
        Closure::new(move |_: JsValue| {
            if let Some(s) = w.upgrade() {
                closed(&s, false);
            }
        })
    };
    socket.ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let on_connect_timeout = {
        let w = weak.clone();
        Closure::new(move |_: JsValue| {
            let Some(s) = w.upgrade() else { return };
            let connecting = {
                let mut st = s.state.borrow_mut();
                st.connect = None;
                !st.open
            };
            if connecting {
                let _ = s.ws.close();
                closed(&s, false);
            }
        })
    };
    let timer = set_timeout(
        on_connect_timeout.as_ref().unchecked_ref(),
        CONNECT_TIMEOUT_MS as f64,
    );
    socket.state.borrow_mut().connect = Some(timer);
    *socket.handlers.borrow_mut() = vec![on_open, on_message, on_close, on_connect_timeout];
    SOCKETS.with(|s| {
        s.borrow_mut()
            .entry(url.to_owned())
            .or_default()
            .push(socket.clone())
    });
    Some(socket)
}

fn opened(s: &Rc<Socket>) {
    OPENED.with(|o| o.borrow_mut().insert(s.url.clone()));
    let (outbox, timer) = {
        let mut st = s.state.borrow_mut();
        st.open = true;
        st.heard = true;
        (std::mem::take(&mut st.outbox), st.connect.take())
    };
    if let Some(t) = timer {
        clear_timeout(&t);
    }
    for text in outbox {
        let _ = s.ws.send_with_str(&text);
    }
    let w = Rc::downgrade(s);
    let pinger: Closure<dyn FnMut()> = Closure::new(move || {
        let Some(s) = w.upgrade() else { return };
        let heard = std::mem::replace(&mut s.state.borrow_mut().heard, false);
        if heard {
            let _ = s.ws.send_with_str(r#"{"type":"ping"}"#);
        } else {
            // Nothing, not even the pong, since the last ping: the socket is dead.
            let _ = s.ws.close();
            closed(&s, false);
        }
    });
    let handle = set_interval(pinger.as_ref().unchecked_ref(), PING_EVERY_MS as f64);
    s.state.borrow_mut().ping = Some(handle);
    *s.pinger.borrow_mut() = Some(pinger);
}

type Action = (Weak<dyn Client>, Todo);

enum Todo {
    Inputs(Vec<Input>),
    Fallback(Waiting),
}

fn run(actions: Vec<Action>) {
    for (client, todo) in actions {
        let Some(c) = client.upgrade() else { continue };
        match todo {
            Todo::Inputs(inputs) => c.inputs(inputs),
            Todo::Fallback(w) => c.fallback(w.request_id, w.params, w.kind),
        }
    }
}

fn received(s: &Rc<Socket>, text: &str) {
    let mut actions = Vec::new();
    let mut ended = None;
    {
        let mut st = s.state.borrow_mut();
        st.heard = true;
        let Some(frame) = frame::parse(text) else { return };
        let Some(id) = frame.id().map(str::to_owned) else {
            return;
        };
        let Some(key) = st.by_id.get(&id).copied() else {
            return;
        };
        if frame.is_terminal() {
            // Ended on the server; the unsubscribe frees its slot there in any case.
            st.by_id.remove(&id);
            ended = Some(control_frame("unsubscribe", &id));
        }
        let Some(sub) = st.subs.get_mut(&key) else { return };
        let start = sub.next.clone();
        if let Some(next) = frame.next_position() {
            sub.next = next;
        }
        if frame.is_terminal() {
            sub.id = None;
        }
        match sub.waiting.take() {
            Some(w) => {
                let input = frame::to_input(frame, w.request_id, w.kind, super::driver::now_ms());
                actions.push((sub.client.clone(), Todo::Inputs(vec![input])));
            }
            None if sub.queue.len() < MAX_QUEUED_FRAMES => sub.queue.push_back((start, frame)),
            None => {
                sub.queue.clear();
                if let Some(id) = sub.id.take() {
                    st.by_id.remove(&id);
                    ended = Some(control_frame("unsubscribe", &id));
                }
            }
        }
    }
    if let Some(text) = ended {
        s.send(text);
    }
    run(actions);
}

fn closed(s: &Rc<Socket>, by_us: bool) {
    let (ping, connect) = {
        let mut st = s.state.borrow_mut();
        (st.ping.take(), st.connect.take())
    };
    if let Some(h) = ping {
        clear_interval(&h);
    }
    if let Some(h) = connect {
        clear_timeout(&h);
    }
    s.ws.set_onopen(None);
    s.ws.set_onmessage(None);
    s.ws.set_onclose(None);
    SOCKETS.with(|all| {
        let mut all = all.borrow_mut();
        if let Some(list) = all.get_mut(&s.url) {
            list.retain(|c| !Rc::ptr_eq(c, s));
            if list.is_empty() {
                all.remove(&s.url);
            }
        }
    });
    let was_open = s.state.borrow().open;
    let ever_opened = OPENED.with(|o| o.borrow().contains(&s.url));
    let unusable = !by_us && !was_open && !ever_opened;
    if unusable {
        UNUSABLE.with(|u| u.borrow_mut().insert(s.url.clone()));
        super::driver::warn(&format!(
            "eddy: the WebSocket {} could not be opened; these streams use HTTP from now on",
            s.url
        ));
    }
    let mut actions = Vec::new();
    {
        let mut st = s.state.borrow_mut();
        st.open = false;
        st.by_id.clear();
        for sub in st.subs.values_mut() {
            sub.id = None;
            sub.queue.clear();
            if let Some(w) = sub.waiting.take() {
                let todo = if unusable {
                    Todo::Fallback(w)
                } else {
                    Todo::Inputs(vec![Input::NetworkError {
                        request_id: w.request_id,
                    }])
                };
                actions.push((sub.client.clone(), todo));
            }
        }
        st.subs.clear();
    }
    // The handlers may be the ones running now: drop them later, not under their own call.
    let s2 = s.clone();
    wasm_bindgen_futures::spawn_local(async move {
        s2.handlers.borrow_mut().clear();
        s2.pinger.borrow_mut().take();
    });
    run(actions);
}

/// Answer `request_id` from the stream's subscription, (re)subscribing when the request does
/// not continue it. Never calls the client synchronously (answers go out in a microtask).
pub fn request(
    link: &Link,
    client: Weak<dyn Client>,
    shape: &ShapeDefinition,
    request_id: RequestId,
    params: RequestParams,
    kind: RequestKind,
) {
    let want: Pos = (params.handle.clone(), params.offset);
    let waiting = Waiting {
        request_id,
        params,
        kind,
    };
    let Some(s) = socket_for(link) else {
        let todo = Todo::Inputs(vec![Input::NetworkError { request_id }]);
        return defer(vec![(client, todo)]);
    };
    let mut out: Vec<String> = Vec::new();
    let mut answer = None;
    {
        let mut st = s.state.borrow_mut();
        let st = &mut *st;
        let sub = st.subs.entry(link.key).or_insert_with(|| Sub {
            client: client.clone(),
            shape: shape.clone(),
            id: None,
            queue: VecDeque::new(),
            next: want.clone(),
            waiting: None,
        });
        let continues = match sub.queue.front() {
            Some((start, _)) => same_pos(start, &want),
            None => sub.id.is_some() && same_pos(&sub.next, &want),
        };
        if continues {
            match sub.queue.pop_front() {
                Some((_, f)) => answer = Some(frame::to_input(f, request_id, kind, super::driver::now_ms())),
                None => sub.waiting = Some(waiting),
            }
        } else {
            if let Some(old) = sub.id.take() {
                st.by_id.remove(&old);
                out.push(control_frame("unsubscribe", &old));
            }
            let id = format!("s{}", next_number());
            sub.queue.clear();
            sub.next = want.clone();
            out.push(subscribe_frame(&id, &sub.shape, &want));
            sub.id = Some(id.clone());
            sub.waiting = Some(waiting);
            st.by_id.insert(id, link.key);
        }
    }
    for text in out {
        s.send(text);
    }
    if let Some(input) = answer {
        defer(vec![(client, Todo::Inputs(vec![input]))]);
    }
}

fn defer(actions: Vec<Action>) {
    wasm_bindgen_futures::spawn_local(async move { run(actions) });
}

/// Forget the waiting request (a `CancelRequest`); the subscription goes on.
pub fn cancel(link: &Link, request_id: RequestId) {
    let Some(s) = find(link) else {
        return;
    };
    let mut st = s.state.borrow_mut();
    if let Some(sub) = st.subs.get_mut(&link.key) {
        if sub.waiting.as_ref().is_some_and(|w| w.request_id == request_id) {
            sub.waiting = None;
        }
    }
}

/// The stream ended: unsubscribe, and close the socket when it was the last one.
pub fn detach(link: &Link) {
    let Some(s) = find(link) else {
        return;
    };
    let (unsub, last) = {
        let mut st = s.state.borrow_mut();
        let id = st.subs.remove(&link.key).and_then(|sub| sub.id);
        if let Some(id) = &id {
            st.by_id.remove(id);
        }
        (id, st.subs.is_empty())
    };
    if last {
        let _ = s.ws.close();
        closed(&s, true);
    } else if let Some(id) = unsub {
        s.send(control_frame("unsubscribe", &id));
    }
}

/// Number of open or opening sockets of the page (for tests and diagnostics).
pub fn socket_count() -> usize {
    SOCKETS.with(|s| s.borrow().values().map(Vec::len).sum())
}
