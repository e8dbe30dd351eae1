//! The integration-test harness of a participant (stock, payment): its own
//! redis-server, the real service started on port 0 through the participant's
//! `build`, an HTTP client for both of its ports, and the assertions every
//! participant's tests share. The servers stop when the [`TestParticipant`] is
//! dropped.
//!
//! Nothing here may know a participant's routes: a participant's tests add its
//! own helpers (creating an item, reading a credit) on top of this one.

use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use reqwest::{Client, RequestBuilder, Response};
use serde_json::Value;

use super::RedisServer;
use crate::app::Application;
use crate::config::Config;

/// Declares `$name`, one participant's test app: a [`TestParticipant`] of `$build`
/// started by `$name::spawn()`, with everything of it through `Deref`, so that the
/// participant's tests add their own helpers in an `impl $name` block.
#[macro_export]
macro_rules! participant_test_app {
    ($(#[$meta:meta])* $name:ident, $build:path) => {
        $(#[$meta])*
        pub struct $name($crate::testing::participant::TestParticipant);

        impl $name {
            pub async fn spawn() -> Self {
                $name($crate::testing::participant::TestParticipant::spawn($build).await)
            }
        }

        impl ::std::ops::Deref for $name {
            type Target = $crate::testing::participant::TestParticipant;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl ::std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}

/// A participant under test, with the Redis it uses.
pub struct TestParticipant {
    pub redis: RedisServer,
    /// `http://127.0.0.1:{port}` of the public API.
    pub public: String,
    /// `http://127.0.0.1:{port}` of the saga endpoints.
    pub internal: String,
    pub client: Client,
    handles: Vec<ServerHandle>,
}

impl TestParticipant {
    /// Starts a redis-server and the participant that `build` builds (`stock::build`,
    /// `payment::build`) on free ports, in the background of the test's runtime.
    pub async fn spawn(build: impl FnOnce(&Config) -> std::io::Result<Application>) -> Self {
        let redis = RedisServer::start();
        let app = build(&redis.service_config()).expect("the service builds");
        let public = format!("http://127.0.0.1:{}", app.public_port());
        let internal = format!(
            "http://127.0.0.1:{}",
            app.internal_port()
                .expect("a participant has an internal port")
        );
        let handles = app.spawn();
        TestParticipant {
            redis,
            public,
            internal,
            client: Client::new(),
            handles,
        }
    }

    /// `POST` on the public port.
    pub async fn post(&self, path: &str) -> Response {
        send(self.client.post(format!("{}{path}", self.public))).await
    }

    /// `POST` on the public port with an `Idempotency-Key`.
    pub async fn post_keyed(&self, path: &str, key: &str) -> Response {
        let req = self.client.post(format!("{}{path}", self.public));
        send(req.header(crate::idempotency::HEADER, key)).await
    }

    /// Sends `path` with `key` three times and asserts that every repeat got the
    /// status and JSON body of the first; returns them.
    pub async fn post_thrice(&self, path: &str, key: &str) -> (u16, Value) {
        let mut answers = Vec::new();
        for _ in 0..3 {
            let resp = self.post_keyed(path, key).await;
            let status = resp.status().as_u16();
            answers.push((status, resp.json::<Value>().await.expect("a JSON body")));
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{path} with key {key}: {answers:?}"
        );
        answers.swap_remove(0)
    }

    /// `GET` on the public port.
    pub async fn get(&self, path: &str) -> Response {
        send(self.client.get(format!("{}{path}", self.public))).await
    }

    /// `GET` on the internal port.
    pub async fn get_internal(&self, path: &str) -> Response {
        send(self.client.get(format!("{}{path}", self.internal))).await
    }

    /// `POST` on the internal port, with a JSON body if given.
    pub async fn post_internal(&self, path: &str, body: Option<Value>) -> Response {
        let mut req = self.client.post(format!("{}{path}", self.internal));
        if let Some(body) = body {
            req = req.json(&body);
        }
        send(req).await
    }

    /// Sends a batch of `calls` (each `{"saga_id", "step"}`) to the batched step
    /// endpoint at `path` and returns its results, in order, after asserting a `200`
    /// with one result per call.
    pub async fn post_batch(&self, path: &str, calls: Vec<Value>) -> Vec<Value> {
        let n = calls.len();
        let body = serde_json::json!({ "calls": calls });
        let reply = json(self.post_internal(path, Some(body)).await, 200).await;
        let results = reply["results"].as_array().expect("results").clone();
        assert_eq!(results.len(), n, "{reply}");
        results
    }

    /// Sends the undo step `step` (release, refund: not batched) of `saga` with `body` and
    /// returns its reply after asserting a `200`.
    pub async fn post_undo(&self, saga: &str, step: &str, body: Value) -> Value {
        let path = format!("/saga/{saga}/{step}");
        json(self.post_internal(&path, Some(body)).await, 200).await
    }
}

impl Drop for TestParticipant {
    fn drop(&mut self) {
        for handle in &self.handles {
            drop(handle.stop(false));
        }
    }
}

async fn send(req: RequestBuilder) -> Response {
    req.send().await.expect("request sent")
}

/// Asserts the status and returns the JSON body.
pub async fn json(resp: Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON body");
    assert_eq!(got, status, "body: {body}");
    body
}

/// Asserts a failure status with a JSON `{"error": "..."}` body and returns the message.
pub async fn error(resp: Response, status: u16) -> String {
    let body = json(resp, status).await;
    body["error"]
        .as_str()
        .expect("an error message")
        .to_string()
}

/// Readiness follows the participant's Redis: ready, then 503 (and still live) while
/// Redis is down, then ready again within 10 s of its restart.
pub async fn assert_readiness_follows_redis(app: &mut TestParticipant) {
    json(app.get("/health/ready").await, 200).await;
    app.redis.kill();
    error(app.get("/health/ready").await, 503).await;
    json(app.get("/health/live").await, 200).await;
    app.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !app.get("/health/ready").await.status().is_success() {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `GET` of `post_only`, a public path served for `POST` only, is a JSON 405 with
/// `Allow: POST` whose message names the method to use.
pub async fn assert_wrong_method_is_a_json_405(app: &TestParticipant, post_only: &str) {
    let resp = app.get(post_only).await;
    assert_eq!(resp.headers()["allow"], "POST");
    let msg = error(resp, 405).await;
    assert!(msg.ends_with("use POST"), "{msg}");
}
