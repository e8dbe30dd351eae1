//! HTTP handlers: parse the path or body into checked types, call the store,
//! map its answer to JSON. No handler builds a Redis key.

mod saga;
mod users;

use actix_web::web;
use common::api::RouteTable;

/// The public API, routed by the gateway under `/payment`.
pub fn public(cfg: &mut impl RouteTable) {
    cfg.post("/create_user", users::create)
        .get("/find_user/{user_id}", users::find)
        .post("/add_funds/{user_id}/{amount}", users::add_funds)
        .post("/pay/{user_id}/{amount}", users::pay)
        .post("/batch_init/{n}/{starting_money}", users::batch_init);
}

/// The OpenAPI document of the public API (paths as the service serves them,
/// without the gateway's `/payment` prefix), from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    users::create,
    users::find,
    users::add_funds,
    users::pay,
    users::batch_init
))]
pub struct PublicApi;

/// The saga participant endpoints, for the order service only.
pub fn internal(cfg: &mut web::ServiceConfig) {
    cfg.route("/saga/charge", web::post().to(saga::charge))
        .route("/saga/{saga_id}/refund", web::post().to(saga::refund));
}
