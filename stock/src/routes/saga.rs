//! The saga participant endpoints (internal port only).

use actix_web::{web, HttpResponse};
use common::params::{Id, Quantity};
use common::participant::ReserveRequest;
use common::ApiError;

use crate::store::StockStore;

#[tracing::instrument(skip(store, body))]
pub async fn reserve(
    store: web::Data<StockStore>,
    path: web::Path<String>,
    body: web::Json<ReserveRequest>,
) -> Result<HttpResponse, ApiError> {
    let saga = Id::parse("saga_id", &path)?;
    let lines = body
        .items
        .iter()
        .map(|(id, qty)| {
            let id = Id::parse("item_id", id)?;
            let qty = Quantity::new(*qty).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "quantity {qty} of item {id} must be a positive integer"
                ))
            })?;
            Ok((id, qty))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let reply = store.reserve(&saga, &lines).await?;
    Ok(HttpResponse::Ok().json(reply))
}

#[tracing::instrument(skip(store))]
pub async fn release(
    store: web::Data<StockStore>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let saga = Id::parse("saga_id", &path)?;
    let reply = store.release(&saga).await?;
    Ok(HttpResponse::Ok().json(reply))
}
