//! Exactly-once public writes: the idempotency key of a request, and the record
//! that a write script keeps of its answer.
//!
//! Every public write (POST, DELETE) carries a key: the caller's `Idempotency-Key`
//! header, or else the one the gateway sets from its request id (the same across
//! its own retries of one request), or else, for a caller that reaches a service
//! directly, one made up here, which covers the service's own retries of the
//! request against its Redis. The write's script records the key with its answer
//! in the same atomic step ([`PRELUDE`]), for `IDEMPOTENCY_TTL_SECS`; a repeat
//! with the same key changes nothing and gets the first answer, and the same key
//! sent with another request is refused (422). This module never decides what a
//! write does: it only names the record and reads the script's answer.

use std::future::{ready, Ready};
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use prometheus::core::Collector;
use prometheus::{IntCounterVec, Opts};
use redis::Script;

use crate::error::ApiError;
use crate::fault;
use crate::metrics::checked;
use crate::params::Id;
use crate::store::{Invocation, RedisStore, StoreError};

/// The header a caller (and the gateway) sends the key in.
pub const HEADER: &str = "Idempotency-Key";

/// The longest key accepted: the gateway's request ids are 32 characters, a UUID 36.
pub const MAX_LEN: usize = 128;

/// The Lua prelude every public write script starts with (its contract is in the file).
pub const PRELUDE: &str = include_str!("idempotency.lua");

/// A public write script: [`PRELUDE`] and then `body`, the script's own source.
pub fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

/// The header in the API document: every public write lists it (`params(KeyHeader, ...)`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct KeyHeader {
    /// Makes the write safe to send again: a repeat with the same key is applied once and
    /// gets the first answer (a repeated create the same id); the same key sent with
    /// another request is a 422. Kept for `IDEMPOTENCY_TTL_SECS` (6 hours by default).
    /// Without it (or empty), the gateway's request id covers the gateway's own retries.
    #[param(rename = "Idempotency-Key", max_length = 128, pattern = "^[!-~]*$")]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}

/// A request's idempotency key and what the request was, taken from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    key: String,
    /// Method and path as this service saw them: a record answers only this request.
    request: String,
    /// `false` when the caller sent none and this service made it up.
    from_caller: bool,
}

impl IdempotencyKey {
    /// Reads the key from the headers (a made-up one when there is none or it is
    /// empty); a key that is too long or not visible ASCII is a 400 naming the header.
    pub fn from_request_parts(req: &HttpRequest) -> Result<Self, ApiError> {
        let request = format!("{} {}", req.method(), req.path());
        // An empty header is no key: the gateway cannot tell it from a missing one either.
        let header = req.headers().get(HEADER).filter(|v| !v.is_empty());
        let Some(value) = header else {
            return Ok(IdempotencyKey {
                key: uuid::Uuid::new_v4().simple().to_string(),
                request,
                from_caller: false,
            });
        };
        let key = value.to_str().ok().filter(|k| valid(k)).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "header {HEADER} {:?} must be at most {MAX_LEN} visible ASCII characters",
                String::from_utf8_lossy(value.as_bytes())
            ))
        })?;
        Ok(IdempotencyKey {
            key: key.to_string(),
            request,
            from_caller: true,
        })
    }

    /// A key for a write that no HTTP request carries (tests, tools).
    pub fn new(key: &str, request: &str) -> Self {
        IdempotencyKey {
            key: key.to_string(),
            request: request.to_string(),
            from_caller: true,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }

    pub fn from_caller(&self) -> bool {
        self.from_caller
    }

    /// The id a create made with this key gives its new entity: the same for every
    /// repeat, so the entity and the key's record live together (one slot).
    pub fn derived_id(&self, kind: &str) -> Id {
        let name = format!("{kind}\n{}", self.key);
        Id::generated(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string())
    }

    /// The name of this key's record beside `entity_key`, the entity the write changes.
    pub fn record_key(&self, entity_key: &str) -> String {
        format!("idem:{entity_key}:{}", self.key)
    }

    /// Adds the record's key and arguments to a write script's invocation. Call it
    /// after the script's own keys and arguments: the prelude reads them last.
    pub fn bind(&self, invocation: &mut Invocation<'_>, entity_key: &str, ttl: Duration) {
        invocation
            .key(self.record_key(entity_key))
            .arg(ttl.as_millis() as u64)
            .arg(self.request.as_str());
    }
}

fn valid(key: &str) -> bool {
    key.len() <= MAX_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_request_parts(req))
    }
}

/// A write script's answer, with the prelude's tags taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The script's own answer (the first one, for a repeat).
    pub parts: Vec<String>,
    /// `true` when this was a repeat and nothing was applied now.
    pub replayed: bool,
}

/// Reads a write script's reply: the answer, or [`StoreError::KeyReused`] when the
/// key was used before for another request. `write` names the write in the metrics
/// (`"stock add"`). A fresh answer is where the crash tests' fault strikes
/// ([`fault::write_applied`]): after the write, before its answer.
pub fn answer(
    write: &'static str,
    key: &IdempotencyKey,
    mut reply: Vec<String>,
) -> Result<Answer, StoreError> {
    match reply.first().map(String::as_str) {
        Some("reused") => Err(StoreError::KeyReused(format!(
            "{HEADER} {:?} was already used for another request ({}); use a new key for {}",
            key.key,
            reply.get(1).map_or("?", String::as_str),
            key.request
        ))),
        Some("replay") => {
            reply.remove(0);
            replays().with_label_values(&[write]).inc();
            Ok(Answer {
                parts: reply,
                replayed: true,
            })
        }
        _ => {
            fault::write_applied(write);
            Ok(Answer {
                parts: reply,
                replayed: false,
            })
        }
    }
}

/// The answer recorded for `key` beside `entity_key`, for a write that is not one
/// script (batch_init): `None` when there is none yet. Same record as [`PRELUDE`]'s.
pub async fn recorded(
    write: &'static str,
    redis: &RedisStore,
    key: &IdempotencyKey,
    entity_key: &str,
) -> Result<Option<Answer>, StoreError> {
    let seen: Option<String> = redis
        .query_retrying(redis::cmd("GET").arg(key.record_key(entity_key)))
        .await?;
    let Some(seen) = seen else { return Ok(None) };
    let corrupt = || StoreError::Corrupt(format!("idempotency record {seen:?}"));
    let (request, json) = seen.split_once('\n').ok_or_else(corrupt)?;
    let mut reply = if request == key.request {
        vec!["replay".to_string()]
    } else {
        vec!["reused".to_string(), request.to_string()]
    };
    let parts: Vec<String> = serde_json::from_str(json).map_err(|_| corrupt())?;
    reply.extend(parts);
    answer(write, key, reply).map(Some)
}

/// Records `parts` as the answer to `key` beside `entity_key` (after the write it
/// answers was applied), for `ttl`.
pub async fn record(
    redis: &RedisStore,
    key: &IdempotencyKey,
    entity_key: &str,
    parts: &[&str],
    ttl: Duration,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(parts)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode an answer: {e}")))?;
    redis
        .write_retrying(
            redis::cmd("SET")
                .arg(key.record_key(entity_key))
                .arg(format!("{}\n{json}", key.request))
                .arg("PX")
                .arg(ttl.as_millis() as u64),
        )
        .await
}

/// `idempotent_replays_total{write}`: repeats answered from a record (one process
/// serves one service, so one counter per process).
fn replays() -> &'static IntCounterVec {
    static REPLAYS: OnceLock<IntCounterVec> = OnceLock::new();
    REPLAYS.get_or_init(|| {
        checked(IntCounterVec::new(
            Opts::new(
                "idempotent_replays_total",
                "Writes repeated with an idempotency key already recorded: answered from \
                 the record, nothing applied again.",
            ),
            &["write"],
        ))
    })
}

/// The replay counter, for the service's registry.
pub fn collectors() -> Vec<Box<dyn Collector>> {
    vec![Box::new(replays().clone())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn key_of(req: TestRequest) -> Result<IdempotencyKey, ApiError> {
        IdempotencyKey::from_request_parts(&req.to_http_request())
    }

    #[test]
    fn the_callers_key_is_kept_with_the_request_it_came_with() {
        let key = key_of(
            TestRequest::post()
                .uri("/add/7/5")
                .insert_header((HEADER, "abc-123")),
        )
        .expect("valid key");
        assert_eq!(key.as_str(), "abc-123");
        assert!(key.from_caller());
        assert_eq!(key.request, "POST /add/7/5");
        assert_eq!(key.record_key("item:7"), "idem:item:7:abc-123");
    }

    #[test]
    fn without_a_header_every_request_gets_a_key_of_its_own() {
        let a = key_of(TestRequest::post().uri("/x")).expect("made up");
        let b = key_of(TestRequest::post().uri("/x")).expect("made up");
        assert!(!a.from_caller());
        assert_ne!(a.as_str(), b.as_str());
        let empty = key_of(TestRequest::post().uri("/x").insert_header((HEADER, "")));
        assert!(!empty.expect("an empty header is no key").from_caller());
    }

    #[test]
    fn malformed_keys_are_refused_naming_the_header() {
        let long = "k".repeat(MAX_LEN + 1);
        for bad in ["has space", "tab\t", long.as_str()] {
            let err =
                key_of(TestRequest::post().uri("/x").insert_header((HEADER, bad))).expect_err(bad);
            assert!(
                matches!(&err, ApiError::BadRequest(m) if m.contains(HEADER)),
                "{err}"
            );
        }
        let longest = "k".repeat(MAX_LEN);
        assert!(key_of(
            TestRequest::post()
                .uri("/x")
                .insert_header((HEADER, longest))
        )
        .is_ok());
    }

    #[test]
    fn derived_ids_are_stable_per_key_and_kind() {
        let a = IdempotencyKey::new("k1", "POST /create");
        let b = IdempotencyKey::new("k2", "POST /create");
        assert_eq!(a.derived_id("item"), a.derived_id("item"));
        assert_ne!(a.derived_id("item"), b.derived_id("item"));
        assert_ne!(a.derived_id("item"), a.derived_id("user"));
    }

    #[test]
    fn script_replies_lose_their_tags() {
        let key = IdempotencyKey::new("k", "POST /a");
        let parts = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let fresh = answer("t", &key, parts(&["ok", "5"])).expect("fresh");
        assert_eq!((fresh.parts, fresh.replayed), (parts(&["ok", "5"]), false));
        let again = answer("t", &key, parts(&["replay", "ok", "5"])).expect("replay");
        assert_eq!((again.parts, again.replayed), (parts(&["ok", "5"]), true));
        let reused = answer("t", &key, parts(&["reused", "POST /b"])).expect_err("reused");
        assert!(matches!(reused, StoreError::KeyReused(m) if m.contains("POST /b")));
    }
}
