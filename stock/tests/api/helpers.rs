//! The stock service on free ports for one test: the participant harness
//! (`common::testing::participant`) and the stock-only helpers on top of it.

pub use common::testing::participant::{error, json};

common::participant_test_app!(
    /// The stock service under test; everything of `TestParticipant` through `Deref`.
    TestApp,
    stock::build
);

impl TestApp {
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
