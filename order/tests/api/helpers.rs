//! Starts the whole system in-process for a test: three real redis-servers on
//! free ports, stock and payment (public and internal ports), and order, all on
//! port 0. Everything stops when the [`TestSystem`] is dropped.

use std::time::Duration;

use common::params::Id;
use common::testing::RedisServer;
use common::{Config, RedisStore};
use order::config::OrderConfig;
use order::store::OrderStore;
use serde_json::Value;

/// The order store over `redis`, as a replica of the order service has it (for the
/// tests that drive sagas by hand).
pub fn order_store(redis: &RedisServer) -> OrderStore {
    OrderStore::new(RedisStore::new(&redis.config()).expect("a redis pool"))
}

/// An id for the order store's API, from a test's literal or a service's answer.
pub fn id(raw: &str) -> Id {
    Id::parse("id", raw).expect("a valid id")
}

pub struct TestSystem {
    pub order_url: String,
    pub stock_url: String,
    pub payment_url: String,
    pub order_redis: RedisServer,
    pub stock_redis: RedisServer,
    pub payment_redis: RedisServer,
    pub order_config: OrderConfig,
    pub http: reqwest::Client,
}

fn base(redis: &RedisServer) -> Config {
    Config {
        listen_addr: "127.0.0.1:0".into(),
        internal_listen_addr: "127.0.0.1:0".into(),
        workers: 2,
        shutdown_timeout_secs: 1,
        redis: redis.config(),
    }
}

impl TestSystem {
    pub async fn start() -> Self {
        Self::start_with(Duration::from_millis(3000)).await
    }

    /// `lease`: how soon an abandoned saga is taken over by recovery.
    pub async fn start_with(lease: Duration) -> Self {
        let (order_redis, stock_redis, payment_redis) = (
            RedisServer::start(),
            RedisServer::start(),
            RedisServer::start(),
        );
        let stock = stock::build(&base(&stock_redis)).expect("stock starts");
        let stock_public = stock.public_port();
        let stock_internal = stock.internal_port().expect("stock has an internal port");
        stock.spawn();
        let payment = payment::build(&base(&payment_redis)).expect("payment starts");
        let payment_public = payment.public_port();
        let payment_internal = payment
            .internal_port()
            .expect("payment has an internal port");
        payment.spawn();
        let order_config = OrderConfig {
            base: base(&order_redis),
            stock_url: format!("http://127.0.0.1:{stock_internal}"),
            payment_url: format!("http://127.0.0.1:{payment_internal}"),
            replica_id: "test".into(),
            lease,
            recovery_interval: Duration::from_millis(100),
            checkout_wait: Duration::from_secs(30),
            peer_timeout: Duration::from_millis(1000),
            batches_in_flight: 1,
        };
        let order = order::build(&order_config).expect("order starts");
        let order_public = order.public_port();
        order.spawn();
        TestSystem {
            order_url: format!("http://127.0.0.1:{order_public}"),
            stock_url: format!("http://127.0.0.1:{stock_public}"),
            payment_url: format!("http://127.0.0.1:{payment_public}"),
            order_redis,
            stock_redis,
            payment_redis,
            order_config,
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(&self, method: &str, url: String) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = self
            .http
            .request(method, url)
            .send()
            .await
            .expect("request is answered");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// The id in `field` of what `POST url` created, after asserting a 2xx.
    async fn created(&self, what: &str, url: String, field: &str) -> String {
        let (s, body) = self.call("POST", url).await;
        assert!((200..300).contains(&s), "{what}: {s} {body}");
        body[field].as_str().expect(field).to_string()
    }

    /// `POST url`, asserting a 2xx.
    async fn posted(&self, what: &str, url: String) {
        let (s, body) = self.call("POST", url).await;
        assert!((200..300).contains(&s), "{what}: {s} {body}");
    }

    /// The body of `GET url`, after asserting a 200.
    async fn found(&self, url: String) -> Value {
        let (s, body) = self.call("GET", url).await;
        assert_eq!(s, 200, "{body}");
        body
    }

    pub async fn new_item(&self, price: i64, stock: i64) -> String {
        let url = format!("{}/item/create/{price}", self.stock_url);
        let id = self.created("create item", url, "item_id").await;
        if stock > 0 {
            let url = format!("{}/add/{id}/{stock}", self.stock_url);
            self.posted("add stock", url).await;
        }
        id
    }

    pub async fn new_user(&self, credit: i64) -> String {
        let url = format!("{}/create_user", self.payment_url);
        let id = self.created("create user", url, "user_id").await;
        if credit > 0 {
            let url = format!("{}/add_funds/{id}/{credit}", self.payment_url);
            self.posted("add funds", url).await;
        }
        id
    }

    pub async fn new_order(&self, user: &str, items: &[(&str, i64)]) -> String {
        let url = format!("{}/create/{user}", self.order_url);
        let id = self.created("create order", url, "order_id").await;
        for (item, qty) in items {
            let url = format!("{}/addItem/{id}/{item}/{qty}", self.order_url);
            self.posted("addItem", url).await;
        }
        id
    }

    /// `qty` of a new item of `(price, stock)` ordered by a new user with `credit`:
    /// `(item, user, order)`.
    pub async fn one_line_order(
        &self,
        (price, stock): (i64, i64),
        credit: i64,
        qty: i64,
    ) -> (String, String, String) {
        let item = self.new_item(price, stock).await;
        let user = self.new_user(credit).await;
        let order = self.new_order(&user, &[(&item, qty)]).await;
        (item, user, order)
    }

    pub async fn stock_of(&self, item: &str) -> i64 {
        let body = self.found(format!("{}/find/{item}", self.stock_url)).await;
        body["stock"].as_i64().expect("stock")
    }

    pub async fn credit_of(&self, user: &str) -> i64 {
        let body = self
            .found(format!("{}/find_user/{user}", self.payment_url))
            .await;
        body["credit"].as_i64().expect("credit")
    }

    pub async fn order(&self, order: &str) -> Value {
        self.found(format!("{}/find/{order}", self.order_url)).await
    }

    pub async fn checkout(&self, order: &str) -> (u16, Value) {
        self.call("POST", format!("{}/checkout/{order}", self.order_url))
            .await
    }

    /// Sends a checkout and answers at once; await the handle for the reply.
    pub fn checkout_in_background(
        &self,
        order: &str,
    ) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
        let request = self
            .http
            .post(format!("{}/checkout/{order}", self.order_url));
        tokio::spawn(request.send())
    }
}
