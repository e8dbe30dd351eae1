//! The public item endpoints.

use actix_web::{web, HttpResponse};
use common::params::{Amount, Id, Quantity};
use common::ApiError;
use serde_json::json;

use crate::store::{Adjusted, StockStore};

/// Largest `n` a batch init accepts.
const MAX_BATCH: i64 = 10_000_000;

#[tracing::instrument(skip(store))]
pub async fn create(
    store: web::Data<StockStore>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let price = Amount::parse("price", &path)?;
    let id = store.create(price).await?;
    Ok(HttpResponse::Ok().json(json!({ "item_id": id.as_str() })))
}

#[tracing::instrument(skip(store))]
pub async fn find(
    store: web::Data<StockStore>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Id::parse("item_id", &path)?;
    let item = store.find(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok(HttpResponse::Ok().json(json!({ "stock": item.stock, "price": item.price })))
}

#[tracing::instrument(skip(store))]
pub async fn add(
    store: web::Data<StockStore>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, amount) = parse_change(&path)?;
    let adjusted = store.add(&id, amount).await?;
    respond(&id, amount, adjusted)
}

#[tracing::instrument(skip(store))]
pub async fn subtract(
    store: web::Data<StockStore>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, amount) = parse_change(&path)?;
    let adjusted = store.subtract(&id, amount).await?;
    respond(&id, amount, adjusted)
}

#[tracing::instrument(skip(store))]
pub async fn batch_init(
    store: web::Data<StockStore>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let n = Quantity::parse_at_most("n", &path.0, MAX_BATCH)?;
    let stock = Amount::parse("starting_stock", &path.1)?;
    let price = Amount::parse("item_price", &path.2)?;
    store.batch_init(n, stock, price).await?;
    Ok(HttpResponse::Ok().json(json!({
        "msg": format!("created items \"0\"..\"{}\" with stock {} at price {}", n.get() - 1, stock.get(), price.get())
    })))
}

fn parse_change(path: &(String, String)) -> Result<(Id, Amount), ApiError> {
    Ok((
        Id::parse("item_id", &path.0)?,
        Amount::parse("amount", &path.1)?,
    ))
}

fn respond(id: &Id, amount: Amount, adjusted: Adjusted) -> Result<HttpResponse, ApiError> {
    match adjusted {
        Adjusted::Done(stock) => {
            Ok(HttpResponse::Ok().json(json!({ "item_id": id.as_str(), "stock": stock })))
        }
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
