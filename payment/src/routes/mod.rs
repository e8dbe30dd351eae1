//! HTTP handlers: parse the path or body into checked types, call the store,
//! map its answer to JSON. No handler builds a Redis key.

mod saga;
mod users;

use actix_web::web;

/// The public API, routed by the gateway under `/payment`.
pub fn public(cfg: &mut web::ServiceConfig) {
    cfg.route("/create_user", web::post().to(users::create))
        .route("/find_user/{user_id}", web::get().to(users::find))
        .route(
            "/add_funds/{user_id}/{amount}",
            web::post().to(users::add_funds),
        )
        .route("/pay/{user_id}/{amount}", web::post().to(users::pay))
        .route(
            "/batch_init/{n}/{starting_money}",
            web::post().to(users::batch_init),
        );
}

/// The saga participant endpoints, for the order service only.
pub fn internal(cfg: &mut web::ServiceConfig) {
    cfg.route("/saga/{saga_id}/charge", web::post().to(saga::charge))
        .route("/saga/{saga_id}/refund", web::post().to(saga::refund));
}
