//! The payment service on free ports for one test: the participant harness
//! (`common::testing::participant`) and the payment-only helpers on top of it.

pub use common::testing::participant::{error, json};

common::participant_test_app!(
    /// The payment service under test; everything of `TestParticipant` through `Deref`.
    TestApp,
    payment::build
);

impl TestApp {
    /// Creates a user with `credit` and returns its id.
    pub async fn user(&self, credit: i64) -> String {
        let body = json(self.post("/create_user").await, 200).await;
        let id = body["user_id"]
            .as_str()
            .expect("user_id is a string")
            .to_string();
        let done = json(self.post(&format!("/add_funds/{id}/{credit}")).await, 200).await;
        assert_eq!(done, serde_json::json!({"done": true}));
        id
    }

    /// The user's credit.
    pub async fn credit(&self, id: &str) -> i64 {
        let body = json(self.get(&format!("/find_user/{id}")).await, 200).await;
        assert_eq!(body["user_id"], id);
        body["credit"].as_i64().expect("credit")
    }
}
