//! Fake replicas of a service, on the ports the gateway proxies to. A fake reads one request
//! per connection with a small HTTP/1.1 reader, records it (method, path, `Idempotency-Key`,
//! `X-Request-Id`) and then answers as told, or closes the connection without answering, as
//! a process killed mid-request does, or answers only after a while, as a paused one does. A replica can also be down (nothing listens: the
//! connect is refused) or hung (it listens with a full accept queue: the connect times out,
//! as to a host that vanished).
//!
//! A framework would not do here: "read the request, then close without a word" and "listen
//! but never accept" are exactly what a real server never does. Fakes only ever listen on
//! 127.0.0.1.

use serde_json::json;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// How a listening replica answers a request it has read (unless it drops it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200 with `{"replica": name, "path": path}`.
    Ok,
    /// This status with `{"error": "<name> answers <status> itself"}`.
    Status(u16),
}

/// One request as a replica read it.
#[derive(Clone, Debug)]
pub struct Call {
    pub replica: String,
    pub method: String,
    pub path: String,
    pub key: Option<String>,
    pub request_id: Option<String>,
    /// Closed without an answer.
    pub dropped: bool,
    /// Held before the answer (`Service::stall_next`).
    pub stalled: bool,
}

/// What the replicas of one service share: the requests they saw, whether the next
/// request, on whichever replica, is to be dropped, and how long the next ones are held.
#[derive(Default)]
struct Seen {
    calls: Mutex<Vec<Call>>,
    drop_next: AtomicBool,
    stall_next: Mutex<VecDeque<Duration>>,
}

/// The fake replicas of one service and what they saw.
pub struct Service {
    seen: Arc<Seen>,
    pub replicas: Vec<Replica>,
}

impl Service {
    /// Replicas `<name>-1`, `<name>-2`, ... on `ports`, none of them listening yet.
    pub fn new(name: &str, ports: &[u16]) -> Self {
        let seen = Arc::new(Seen::default());
        let replicas = ports
            .iter()
            .enumerate()
            .map(|(i, &port)| Replica {
                name: format!("{name}-{}", i + 1),
                port,
                seen: Arc::clone(&seen),
                listening: None,
                hung: None,
            })
            .collect();
        Self { seen, replicas }
    }

    /// Forgets what was seen; every replica listens and answers `answer`.
    pub async fn reset(&mut self, answer: Answer) {
        self.seen.calls.lock().expect("calls lock").clear();
        self.seen.drop_next.store(false, Ordering::SeqCst);
        self.seen.stall_next.lock().expect("stall lock").clear();
        for replica in &mut self.replicas {
            replica.stop().await;
            replica.start(answer);
        }
    }

    /// The next request this service gets, on whichever replica, is read and dropped.
    pub fn drop_next(&self) {
        self.seen.drop_next.store(true, Ordering::SeqCst);
    }

    /// The next request this service gets, on whichever replica, is read and answered only
    /// after `hold` (a replica paused mid-request); the connection stays open meanwhile.
    /// Called again before that request came, the one after it is held too, and so on.
    pub fn stall_next(&self, hold: Duration) {
        self.seen
            .stall_next
            .lock()
            .expect("stall lock")
            .push_back(hold);
    }

    /// Every request the replicas read since the last reset, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.seen.calls.lock().expect("calls lock").clone()
    }

    /// Every replica down: the connect is refused.
    pub async fn stop_all(&mut self) {
        for replica in &mut self.replicas {
            replica.stop().await;
        }
    }

    /// Every replica listening again, answering 200.
    pub fn start_all(&mut self) {
        for replica in &mut self.replicas {
            replica.start(Answer::Ok);
        }
    }

    /// Every replica hung: the connect times out.
    pub async fn hang_all(&mut self) {
        for replica in &mut self.replicas {
            replica.hang().await;
        }
    }
}

/// One fake replica: down, listening, or hung.
pub struct Replica {
    name: String,
    port: u16,
    seen: Arc<Seen>,
    /// The accept loop while listening; it owns the listener.
    listening: Option<JoinHandle<()>>,
    /// While hung: the listener that never accepts and the connection that fills its queue.
    hung: Option<(TcpListener, TcpStream)>,
}

impl Replica {
    /// Listening and answering `answer` (no change when it listens already).
    pub fn start(&mut self, answer: Answer) {
        self.hung = None;
        if self.listening.is_some() {
            return;
        }
        let listener = bind(self.port, 1024)
            .unwrap_or_else(|e| panic!("fake {} cannot listen on {}: {e}", self.name, self.port));
        let handler = Arc::new(Handler {
            replica: self.name.clone(),
            answer,
            seen: Arc::clone(&self.seen),
        });
        self.listening = Some(tokio::spawn(accept_loop(listener, handler)));
    }

    /// Down: nothing listens on the port any more once this returns.
    pub async fn stop(&mut self) {
        self.hung = None;
        if let Some(task) = self.listening.take() {
            task.abort();
            // A cancelled task's future, and with it the listener, is dropped before its
            // handle completes.
            let _ = task.await;
        }
    }

    /// Listening with a full accept queue: a new connection's SYN is dropped and its connect
    /// times out.
    pub async fn hang(&mut self) {
        self.stop().await;
        let listener = bind(self.port, 0)
            .unwrap_or_else(|e| panic!("fake {} cannot listen on {}: {e}", self.name, self.port));
        // Linux queues backlog + 1 connections: this one fills the queue.
        let filler = tokio::time::timeout(
            Duration::from_secs(2),
            TcpStream::connect(("127.0.0.1", self.port)),
        )
        .await
        .unwrap_or_else(|_| panic!("the connection filling {}'s queue timed out", self.name))
        .unwrap_or_else(|e| panic!("the connection filling {}'s queue: {e}", self.name));
        self.hung = Some((listener, filler));
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(task) = self.listening.take() {
            task.abort();
        }
    }
}

/// A listener on 127.0.0.1:`port` with address reuse (a port just closed, with connections in
/// TIME_WAIT, can be taken again at once) and the given accept queue length.
fn bind(port: u16, backlog: u32) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(([127, 0, 0, 1], port).into())?;
    socket.listen(backlog)
}

async fn accept_loop(listener: TcpListener, handler: Arc<Handler>) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(Arc::clone(&handler).serve(stream));
        }
    }
}

/// What a listening replica does with a connection.
struct Handler {
    replica: String,
    answer: Answer,
    seen: Arc<Seen>,
}

impl Handler {
    /// Reads one request, records it, answers (or drops it), and closes the connection: the
    /// gateway keeps no connection to a fake, so a replica that goes down is down at once.
    async fn serve(self: Arc<Self>, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let dropped = self.seen.drop_next.swap(false, Ordering::SeqCst);
        let stall = self.seen.stall_next.lock().expect("stall lock").pop_front();
        self.seen.calls.lock().expect("calls lock").push(Call {
            replica: self.replica.clone(),
            method: request.method,
            path: request.path.clone(),
            key: request.idempotency_key,
            request_id: request.request_id,
            dropped,
            stalled: stall.is_some(),
        });
        if let Some(hold) = stall {
            tokio::time::sleep(hold).await;
        }
        if dropped {
            // As a killed process: the request was read, no answer, the socket closes.
            let _ = stream.shutdown().await;
            return;
        }
        let (status, body) = match self.answer {
            Answer::Ok => (200, json!({"replica": self.replica, "path": request.path})),
            Answer::Status(status) => (
                status,
                json!({"error": format!("{} answers {status} itself", self.replica)}),
            ),
        };
        let body = body.to_string();
        let response = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            reason(status),
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The parts of a request the test looks at.
struct Request {
    method: String,
    path: String,
    idempotency_key: Option<String>,
    request_id: Option<String>,
}

/// Reads one request's head and its body (by Content-Length); `None` when the peer closed
/// first or sent something that is not HTTP.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        let head_len = match parsed.parse(&buf).ok()? {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => continue,
        };
        let header = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let body_len: usize = header("Content-Length").map_or(Some(0), |v| v.parse().ok())?;
        let request = Request {
            method: parsed.method?.to_owned(),
            path: parsed.path?.to_owned(),
            idempotency_key: header("Idempotency-Key"),
            request_id: header("X-Request-Id"),
        };
        let mut rest = vec![0u8; (head_len + body_len).saturating_sub(buf.len())];
        stream.read_exact(&mut rest).await.ok()?;
        return Some(request);
    }
}
