//! The public item endpoints. Each handler's `#[utoipa::path]` is its entry
//! in the API document (`/docs/`): keep it next to the code it describes.

use actix_web::{web, HttpResponse};
use common::api::BatchInitReply;
use common::error::ErrorBody;
use common::idempotency::{IdempotencyKey, KeyHeader};
use common::params::{Amount, BatchSize, Id};
use common::participant::{Adjusted, Change};
use common::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::StockStore;

/// The answer of `item/create`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemCreated {
    pub item_id: String,
}

/// An item as `find` shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    #[schema(minimum = 0)]
    pub stock: i64,
    #[schema(minimum = 0)]
    pub price: i64,
}

/// The stock of an item after `add` or `subtract`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StockLevel {
    pub item_id: String,
    #[schema(minimum = 0)]
    pub stock: i64,
}

#[utoipa::path(
    post,
    path = "/item/create/{price}",
    summary = "Create an item with a price; its stock starts at 0",
    params(KeyHeader, ("price" = inline(Amount), Path, description = "The item's price.")),
    responses(
        (status = 200, description = "The new item's id.", body = ItemCreated),
        (status = 400, description = "`price` is not a whole number from 0 to 2^63-1, or the `Idempotency-Key` header is malformed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The stock store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store, idem))]
pub async fn create(
    store: web::Data<StockStore>,
    idem: IdempotencyKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let price = Amount::parse("price", &path)?;
    let id = store.create(&idem, price).await?;
    Ok(HttpResponse::Ok().json(ItemCreated {
        item_id: id.into_string(),
    }))
}

#[utoipa::path(
    get,
    path = "/find/{item_id}",
    summary = "An item's stock and price",
    params(("item_id" = inline(Id), Path, description = "The item.")),
    responses(
        (status = 200, description = "The item.", body = ItemView),
        (status = 400, description = "`item_id` is not a valid id.", body = ErrorBody),
        (status = 404, description = "No such item.", body = ErrorBody),
        (status = "5XX", description = "The stock store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store))]
pub async fn find(
    store: web::Data<StockStore>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Id::parse("item_id", &path)?;
    let item = store.find(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok(HttpResponse::Ok().json(ItemView {
        stock: item.stock,
        price: item.price,
    }))
}

#[utoipa::path(
    post,
    path = "/add/{item_id}/{amount}",
    summary = "Add to an item's stock",
    params(
        KeyHeader,
        ("item_id" = inline(Id), Path, description = "The item."),
        ("amount" = inline(Amount), Path, description = "How much to add."),
    ),
    responses(
        (status = 200, description = "The stock afterwards.", body = StockLevel),
        (status = 400, description = "`item_id`, `amount` or the `Idempotency-Key` header is malformed.", body = ErrorBody),
        (status = 404, description = "No such item; nothing changed.", body = ErrorBody),
        (status = 409, description = "The stock would exceed 2^63-1; nothing changed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The stock store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store, idem))]
pub async fn add(
    store: web::Data<StockStore>,
    idem: IdempotencyKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, amount) = Change::parse_path("item_id", &path)?;
    let adjusted = store.adjust(&idem, &id, Change::Add(amount)).await?;
    respond(&id, amount, adjusted)
}

#[utoipa::path(
    post,
    path = "/subtract/{item_id}/{amount}",
    summary = "Take from an item's stock, never below 0",
    params(
        KeyHeader,
        ("item_id" = inline(Id), Path, description = "The item."),
        ("amount" = inline(Amount), Path, description = "How much to take."),
    ),
    responses(
        (status = 200, description = "The stock afterwards.", body = StockLevel),
        (status = 400, description = "`item_id`, `amount` or the `Idempotency-Key` header is malformed.", body = ErrorBody),
        (status = 404, description = "No such item; nothing changed.", body = ErrorBody),
        (status = 409, description = "Not enough stock; nothing changed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The stock store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store, idem))]
pub async fn subtract(
    store: web::Data<StockStore>,
    idem: IdempotencyKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, amount) = Change::parse_path("item_id", &path)?;
    let adjusted = store.adjust(&idem, &id, Change::Subtract(amount)).await?;
    respond(&id, amount, adjusted)
}

#[utoipa::path(
    post,
    path = "/batch_init/{n}/{starting_stock}/{item_price}",
    summary = "Create (or reset) items \"0\"..\"n-1\" with the same stock and price",
    params(
        KeyHeader,
        ("n" = inline(BatchSize), Path, description = "How many items."),
        ("starting_stock" = inline(Amount), Path, description = "The stock of each."),
        ("item_price" = inline(Amount), Path, description = "The price of each."),
    ),
    responses(
        (status = 200, description = "What was created.", body = BatchInitReply),
        (status = 400, description = "A parameter or the `Idempotency-Key` header is malformed, or out of range.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The stock store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store, idem))]
pub async fn batch_init(
    store: web::Data<StockStore>,
    idem: IdempotencyKey,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let n = BatchSize::parse("n", &path.0)?.quantity();
    let stock = Amount::parse("starting_stock", &path.1)?;
    let price = Amount::parse("item_price", &path.2)?;
    store.batch_init(&idem, n, stock, price).await?;
    Ok(HttpResponse::Ok().json(BatchInitReply {
        msg: format!(
            "created items \"0\"..\"{}\" with stock {} at price {}",
            n.get() - 1,
            stock.get(),
            price.get()
        ),
    }))
}

fn respond(id: &Id, amount: Amount, adjusted: Adjusted) -> Result<HttpResponse, ApiError> {
    match adjusted {
        Adjusted::Done(stock) => Ok(HttpResponse::Ok().json(StockLevel {
            item_id: id.to_string(),
            stock,
        })),
        Adjusted::Insufficient(stock) => Err(ApiError::Conflict(format!(
            "item {id} has {stock} in stock, {} needed",
            amount.get()
        ))),
        Adjusted::Missing => Err(not_found(id)),
        Adjusted::Overflow => Err(ApiError::Conflict(format!(
            "adding {} to the stock of item {id} would overflow a 64-bit integer",
            amount.get()
        ))),
    }
}

fn not_found(id: &Id) -> ApiError {
    ApiError::NotFound(format!("item {id} not found"))
}
