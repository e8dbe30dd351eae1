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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
        let n = self.bases.len();
        let first = self.current.load(Ordering::Relaxed) % n;
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
                    if step > 0 {
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
}
