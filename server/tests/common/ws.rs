//! A blocking WebSocket client for `GET /v1/ws` tests: connect, send a JSON frame, read the next
//! JSON frame (pings and pongs skipped).

use std::net::TcpStream;

use serde_json::Value as Json;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::Server;

/// A client socket.
pub type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// Open `/v1/ws` on `s` (the handshake must answer 101).
pub fn connect(s: &Server) -> Ws {
    let url = s.base.replacen("http://", "ws://", 1) + "/v1/ws";
    let (ws, resp) = tungstenite::connect(url.as_str()).expect("websocket handshake");
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// Send one JSON text frame.
pub fn send(ws: &mut Ws, v: Json) {
    ws.send(Message::text(v.to_string())).expect("send");
}

/// The next JSON text frame; any other frame but ping/pong is a test failure.
pub fn recv(ws: &mut Ws) -> Json {
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}
