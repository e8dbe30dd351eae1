//! The participant skeleton on its own: a participant with a store and a route on
//! each port is a few lines of `participant::build`, and gets the frame every
//! participant has (store and Redis on both ports, health, JSON errors).

use actix_web::{web, HttpResponse};
use common::api::RouteTable;
use common::participant;
use common::testing::participant::{
    assert_readiness_follows_redis, assert_wrong_method_is_a_json_405, json, TestParticipant,
};
use common::RedisStore;

/// The store of the participant under test: what `build` hands to both route tables.
struct Greeter {
    greeting: &'static str,
    _redis: RedisStore,
}

async fn greet(store: web::Data<Greeter>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "greeting": store.greeting }))
}

fn build(config: &common::Config) -> std::io::Result<common::Application> {
    participant::build(
        config,
        |redis| Greeter {
            greeting: "hello",
            _redis: redis,
        },
        // Public routes go through `RouteTable`, as stock's and payment's do (405s, docs).
        |cfg: &mut web::ServiceConfig| {
            cfg.post("/greet", greet);
        },
        |cfg: &mut web::ServiceConfig| {
            cfg.route("/saga/greet", web::post().to(greet));
        },
    )
}

#[tokio::test]
async fn both_ports_of_a_built_participant_get_its_store() {
    let app = TestParticipant::spawn(build).await;
    let public = json(app.post("/greet").await, 200).await;
    assert_eq!(public, serde_json::json!({"greeting": "hello"}));
    let internal = json(app.post_internal("/saga/greet", None).await, 200).await;
    assert_eq!(internal, public);
    // Each route table stays on its own port.
    json(app.post("/saga/greet").await, 404).await;
    json(app.post_internal("/greet", None).await, 404).await;
}

#[tokio::test]
async fn a_built_participant_has_the_common_frame() {
    let mut app = TestParticipant::spawn(build).await;
    assert_wrong_method_is_a_json_405(&app, "/greet").await;
    let metrics = app.get_internal("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("a text body");
    assert!(text.contains("redis_errors_total"), "{text}");
    assert_readiness_follows_redis(&mut app).await;
}
