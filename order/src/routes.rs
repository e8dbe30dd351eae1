//! The order service's public routes: thin handlers that parse, call, and map.
//! A handler never builds a Redis key and never decides a saga's outcome; the
//! HTTP answer of a checkout is decided in one place, [`checkout::checkout_answer`].
//! Each handler's `#[utoipa::path]` is its entry in the API document
//! (`/docs/`): keep it next to the code it describes.
//!
//! - [`orders`]: creating, reading and editing orders, and batch_init.
//! - [`checkout`]: checking an order out, and inspecting its sagas.
//! - [`replies`]: the reply bodies.

use actix_web::web;
use common::api::RouteTable;
use common::params::Id;
use common::ApiError;

use crate::saga::SagaContext;

mod checkout;
mod orders;
mod replies;
pub use replies::{OrderCreated, OrderLine, OrderView, Paid, SagaHistory, SagaView};

pub fn configure(cfg: &mut impl RouteTable) {
    cfg.post("/create/{user_id}", orders::create)
        .get("/find/{order_id}", orders::find)
        .post("/addItem/{order_id}/{item_id}", orders::add_one)
        .post("/addItem/{order_id}/{item_id}/{quantity}", orders::add_item)
        .delete("/removeItem/{order_id}/{item_id}", orders::remove_item)
        .post("/checkout/{order_id}", checkout::checkout_order)
        .post(
            "/batch_init/{n}/{n_items}/{n_users}/{item_price}",
            orders::batch_init,
        )
        .get("/saga/{order_id}", checkout::sagas);
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
    checkout::sagas
))]
pub struct PublicApi;

type Ctx = web::Data<SagaContext>;

fn not_found(order: &Id) -> ApiError {
    ApiError::NotFound(format!("order {order} not found"))
}
