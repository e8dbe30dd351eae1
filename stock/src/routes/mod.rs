//! HTTP handlers: parse the path or body into checked types, call the store,
//! map its answer to JSON. No handler builds a Redis key.

mod items;
mod saga;

use actix_web::web;
use common::api::RouteTable;

/// The public API, routed by the gateway under `/stock`.
pub fn public(cfg: &mut impl RouteTable) {
    cfg.post("/item/create/{price}", items::create)
        .get("/find/{item_id}", items::find)
        .post("/add/{item_id}/{amount}", items::add)
        .post("/subtract/{item_id}/{amount}", items::subtract)
        .post(
            "/batch_init/{n}/{starting_stock}/{item_price}",
            items::batch_init,
        );
}

/// The OpenAPI document of the public API (paths as the service serves them,
/// without the gateway's `/stock` prefix), from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    items::create,
    items::find,
    items::add,
    items::subtract,
    items::batch_init
))]
pub struct PublicApi;

/// The saga participant endpoints and price look-ups, for the order service only.
pub fn internal(cfg: &mut web::ServiceConfig) {
    cfg.route("/find/{item_id}", web::get().to(items::find))
        .route("/saga/reserve", web::post().to(saga::reserve))
        .route("/saga/{saga_id}/release", web::post().to(saga::release));
}
