//! The order service's public routes: thin handlers that parse, call, and map.
//! A handler never builds a Redis key and never decides a saga's outcome; the
//! HTTP answer of a checkout is decided in one place, [`checkout::checkout_answer`].
//! Each handler's `#[utoipa::path]` is its entry in the API document
//! (`/docs/`): keep it next to the code it describes.
//!
//! - [`orders`]: creating, reading and editing orders, batch_init, saga inspection.
//! - [`checkout`]: checking an order out.
//! - [`replies`]: the reply bodies.

use actix_web::web;
use common::api::RouteTable;

use crate::saga::SagaContext;

mod checkout;
mod orders;
mod replies;
pub use replies::{OrderCreated, OrderLine, OrderView, Paid, SagaHistory, SagaView};

use checkout::checkout_order;
use orders::{add_item, add_one, batch_init, create, find, remove_item, sagas};

pub fn configure(cfg: &mut impl RouteTable) {
    cfg.post("/create/{user_id}", create)
        .get("/find/{order_id}", find)
        .post("/addItem/{order_id}/{item_id}", add_one)
        .post("/addItem/{order_id}/{item_id}/{quantity}", add_item)
        .delete("/removeItem/{order_id}/{item_id}", remove_item)
        .post("/checkout/{order_id}", checkout_order)
        .post(
            "/batch_init/{n}/{n_items}/{n_users}/{item_price}",
            batch_init,
        )
        .get("/saga/{order_id}", sagas);
}

/// The OpenAPI document of the public API (paths as the service serves them,
/// without the gateway's `/orders` prefix), from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    orders::create,
    orders::find,
    orders::add_one,
    orders::add_item,
    orders::remove_item,
    checkout::checkout_order,
    orders::batch_init,
    orders::sagas
))]
pub struct PublicApi;

type Ctx = web::Data<SagaContext>;
