//! Starts redis-server and the stock service on free ports for one test.

use actix_web::dev::ServerHandle;
use common::testing::RedisServer;
use common::Config;
use reqwest::{Client, Response};
use serde_json::Value;

pub struct TestApp {
    pub redis: RedisServer,
    pub public: String,
    pub internal: String,
    pub client: Client,
    handles: Vec<ServerHandle>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        let redis = RedisServer::start();
        let config = Config {
            listen_addr: "127.0.0.1:0".into(),
            internal_listen_addr: "127.0.0.1:0".into(),
            workers: 2,
            shutdown_timeout_secs: 1,
            redis: redis.config(),
        };
        let app = stock::build(&config).expect("the service builds");
        let public = format!("http://127.0.0.1:{}", app.public_port());
        let internal = format!(
            "http://127.0.0.1:{}",
            app.internal_port().expect("stock has an internal port")
        );
        let handles = app.spawn();
        TestApp {
            redis,
            public,
            internal,
            client: Client::new(),
            handles,
        }
    }

    pub async fn post(&self, path: &str) -> Response {
        self.client
            .post(format!("{}{path}", self.public))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.public))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_internal(&self, path: &str, body: Option<Value>) -> Response {
        let mut req = self.client.post(format!("{}{path}", self.internal));
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    /// Creates an item at `price` with `stock` and returns its id.
    pub async fn item(&self, price: i64, stock: i64) -> String {
        let body = json(self.post(&format!("/item/create/{price}")).await, 200).await;
        let id = body["item_id"]
            .as_str()
            .expect("item_id is a string")
            .to_string();
        json(self.post(&format!("/add/{id}/{stock}")).await, 200).await;
        id
    }

    /// The item's `(stock, price)`.
    pub async fn find(&self, id: &str) -> (i64, i64) {
        let body = json(self.get(&format!("/find/{id}")).await, 200).await;
        (
            body["stock"].as_i64().expect("stock"),
            body["price"].as_i64().expect("price"),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for handle in &self.handles {
            drop(handle.stop(false));
        }
    }
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
