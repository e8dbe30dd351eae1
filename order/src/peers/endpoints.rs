//! The replicas of one participant: its internal base URLs (`STOCK_URL` and
//! `PAYMENT_URL` list them, comma-separated), and failing over between them.
//!
//! A process sticks to one replica (picked at random at start, so that the order
//! replicas spread over the participant's) while it answers, which keeps batches
//! big; when a call cannot reach it (connection refused, reset, timed out) the same
//! request goes at once to the next replica, and that one becomes the current one.
//! Any other answer, a participant's 503 included (its replicas share one Redis),
//! is the caller's to handle. Every call sent twice this way is safe: the saga's
//! steps are idempotent per saga and the price lookup is a read. This module never
//! retries after waiting: the saga runner does that.
//!
//! A read is also hedged ([`Endpoints::read`]): a replica that is alive but does not
//! answer (paused, stalled) holds a call for its whole timeout, and the price lookup is
//! on the path of every addItem, whose first gateway try is bounded by 0.3 s
//! (`env/nginx/routes.conf`). So when the current replica has not answered a read within
//! the hedge, the same read goes to the next replica as well, and the first answer wins.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::http::{send, PeerError};

#[derive(Debug, Clone)]
pub struct Endpoints {
    peer: &'static str,
    bases: Arc<[String]>,
    current: Arc<AtomicUsize>,
}

impl Endpoints {
    /// `urls`: one or more base URLs, comma-separated (blanks around commas ignored).
    pub fn parse(peer: &'static str, urls: &str) -> Result<Self, String> {
        let bases: Vec<String> = urls
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        if bases.is_empty() {
            return Err(format!("no {peer} URL in {urls:?}"));
        }
        if let Some(bad) = bases.iter().find(|u| !u.starts_with("http://")) {
            return Err(format!("{peer} URL {bad:?} must start with http://"));
        }
        let start = rand::rng().random_range(0..bases.len());
        Ok(Endpoints {
            peer,
            bases: bases.into(),
            current: Arc::new(AtomicUsize::new(start)),
        })
    }

    pub fn peer(&self) -> &'static str {
        self.peer
    }

    /// Sends `request(base)` to the current replica, and to each next one in turn
    /// while the replica tried cannot be reached; the last failure if none can.
    pub async fn send(
        &self,
        request: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PeerError> {
        let first = self.current.load(Ordering::Relaxed) % self.bases.len();
        self.send_from(first, &request).await
    }

    /// [`Endpoints::send`] starting at replica `first`; the replica that answers becomes
    /// the current one.
    async fn send_from(
        &self,
        first: usize,
        request: &impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PeerError> {
        let n = self.bases.len();
        let mut last = None;
        for step in 0..n {
            let at = (first + step) % n;
            match send(self.peer, request(&self.bases[at])).await {
                Err(e @ PeerError::Unreachable { .. }) => {
                    if n > 1 {
                        tracing::warn!(peer = self.peer, replica = %self.bases[at], error = %e, "participant replica unreachable, trying the next");
                    }
                    last = Some(e);
                }
                answered => {
                    if at != self.current.load(Ordering::Relaxed) % n {
                        self.current.store(at, Ordering::Relaxed);
                    }
                    return answered;
                }
            }
        }
        Err(last.unwrap_or_else(|| PeerError::Unreachable {
            peer: self.peer,
            reason: "no replica listed".into(),
        }))
    }

    /// Sends the read `request(base)` to the current replica and, if it has not answered
    /// within `hedge`, to the next one as well: the first answer wins (and its replica
    /// becomes the current one). A replica that cannot be reached leaves the read to the
    /// other; each call keeps the client's own timeout.
    pub async fn read(
        &self,
        request: impl Fn(&str) -> reqwest::RequestBuilder,
        hedge: Duration,
    ) -> Result<reqwest::Response, PeerError> {
        let n = self.bases.len();
        if n == 1 {
            return self.send(request).await;
        }
        let first = self.current.load(Ordering::Relaxed) % n;
        let next = (first + 1) % n;
        let current = send(self.peer, request(&self.bases[first]));
        tokio::pin!(current);
        tokio::select! {
            answer = &mut current => return match answer {
                // Unreachable at once: the plain failover, from the next replica on.
                Err(PeerError::Unreachable { .. }) => self.send_from(next, &request).await,
                answered => answered,
            },
            () = tokio::time::sleep(hedge) => {}
        }
        let hedged = send(self.peer, request(&self.bases[next]));
        tokio::pin!(hedged);
        let (answer, at) = tokio::select! {
            answer = &mut current => match answer {
                Err(PeerError::Unreachable { .. }) => (hedged.await, next),
                answered => (answered, first),
            },
            answer = &mut hedged => match answer {
                Err(PeerError::Unreachable { .. }) => (current.await, first),
                answered => (answered, next),
            },
        };
        if at != first && !matches!(answer, Err(PeerError::Unreachable { .. })) {
            tracing::warn!(peer = self.peer, replica = %self.bases[first], hedge = ?hedge, "participant replica slow, its sibling answered a read first");
            self.current.store(at, Ordering::Relaxed);
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_urls_parse_and_bad_ones_name_the_problem() {
        let e = Endpoints::parse("stock", " http://a:1/ , http://b:2,").expect("two");
        assert_eq!(&*e.bases, ["http://a:1", "http://b:2"]);
        assert!(Endpoints::parse("stock", " , ")
            .expect_err("empty")
            .contains("no stock URL"));
        assert!(Endpoints::parse("stock", "https://a")
            .expect_err("tls")
            .contains("http://"));
    }

    /// A server on 127.0.0.1 that takes every connection and reads it; it answers each
    /// request with `{}` when `answers`, and never when not (a paused replica).
    async fn replica(answers: bool) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while conn.read(&mut buf).await.is_ok_and(|n| n > 0) {
                        if answers {
                            let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                            if conn.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        base
    }

    /// `e.read` of `GET {base}/find/1` with `hedge`.
    async fn find(
        e: &Endpoints,
        client: &reqwest::Client,
        hedge: Duration,
    ) -> Result<reqwest::Response, PeerError> {
        e.read(|b| client.get(format!("{b}/find/1")), hedge).await
    }

    #[tokio::test]
    async fn a_read_the_current_replica_holds_is_answered_by_the_next() {
        let (stalled, live) = (replica(false).await, replica(true).await);
        let e = Endpoints::parse("stock", &format!("{stalled},{live}")).unwrap();
        e.current.store(0, Ordering::Relaxed);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let answer = find(&e, &client, Duration::from_millis(100))
            .await
            .expect("the live replica answers");
        assert_eq!(answer.status(), 200);
        // Without the hedge it would wait for the client's 30 s timeout.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            e.current.load(Ordering::Relaxed),
            1,
            "the live one is now current"
        );
        // The next read goes to the live replica first: it needs no hedge.
        let answer = find(&e, &client, Duration::from_secs(60))
            .await
            .expect("answered");
        assert_eq!(answer.status(), 200);
    }

    #[tokio::test]
    async fn a_read_goes_on_to_the_next_replica_when_the_current_one_is_down() {
        let down = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        }; // closed: connections are refused
        let live = replica(true).await;
        let e = Endpoints::parse("stock", &format!("{down},{live}")).unwrap();
        e.current.store(0, Ordering::Relaxed);
        let client = reqwest::Client::new();
        let answer = find(&e, &client, Duration::from_secs(60))
            .await
            .expect("the live replica answers");
        assert_eq!(answer.status(), 200);
        assert_eq!(e.current.load(Ordering::Relaxed), 1);
    }
}
