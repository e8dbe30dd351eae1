//! The order service's reply bodies: what its handlers send on success, and
//! their schemas in the API document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{
    ArrayBuilder, ArrayItems, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// The answer of `create`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderCreated {
    pub order_id: String,
}

/// An order as `find` shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub paid: bool,
    /// One `[item_id, quantity]` pair per addItem call, in order.
    pub items: Vec<OrderLine>,
    pub user_id: String,
    #[schema(minimum = 0)]
    pub total_cost: i64,
}

/// One line of an order: `[item_id, quantity]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrderLine(pub String, pub i64);

impl utoipa::PartialSchema for OrderLine {
    fn schema() -> RefOr<Schema> {
        let item = ObjectBuilder::new().schema_type(Type::String);
        let quantity = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1));
        ArrayBuilder::new()
            .prefix_items([item, quantity])
            .items(ArrayItems::False)
            .min_items(Some(2))
            .max_items(Some(2))
            .description(Some("`[item_id, quantity]`"))
            .into()
    }
}

impl ToSchema for OrderLine {}

/// The answer of a checkout that paid the order (now or before).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Paid {
    /// Always `true`.
    pub paid: bool,
}

/// The sagas of an order, oldest first (inspection, for debugging).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SagaHistory {
    pub order_id: String,
    pub sagas: Vec<SagaView>,
}

/// One saga with every field of its log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SagaView {
    pub saga_id: String,
    /// The saga's state (`started`, ..., `committed` or `aborted`).
    pub state: String,
    pub log: BTreeMap<String, String>,
}
