//! HTTP handlers: parse the path or body into checked types, call the store,
//! map its answer to JSON. No handler builds a Redis key.

mod items;
mod saga;

use actix_web::web;

/// The public API, routed by the gateway under `/stock`.
pub fn public(cfg: &mut web::ServiceConfig) {
    cfg.route("/item/create/{price}", web::post().to(items::create))
        .route("/find/{item_id}", web::get().to(items::find))
        .route("/add/{item_id}/{amount}", web::post().to(items::add))
        .route(
            "/subtract/{item_id}/{amount}",
            web::post().to(items::subtract),
        )
        .route(
            "/batch_init/{n}/{starting_stock}/{item_price}",
            web::post().to(items::batch_init),
        );
}

/// The saga participant endpoints and price look-ups, for the order service only.
pub fn internal(cfg: &mut web::ServiceConfig) {
    cfg.route("/find/{item_id}", web::get().to(items::find))
        .route("/saga/{saga_id}/reserve", web::post().to(saga::reserve))
        .route("/saga/{saga_id}/release", web::post().to(saga::release));
}
