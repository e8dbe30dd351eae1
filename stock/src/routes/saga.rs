//! The saga participant endpoints (internal port only).

use actix_web::{web, HttpResponse};
use common::params::{Id, Quantity};
use common::participant::{run_batch, Batch, ReserveRequest};
use common::ApiError;

use crate::store::StockStore;

/// A batch of reserves, one per saga (see `common::participant`).
#[tracing::instrument(skip_all, fields(calls = body.calls.len()))]
pub async fn reserve(
    store: web::Data<StockStore>,
    body: web::Json<Batch<ReserveRequest>>,
) -> Result<HttpResponse, ApiError> {
    let calls = body.into_inner().parse(|req| lines(&req))?;
    store.load_reserve().await?;
    run_batch("reserve", calls, |saga, lines| {
        let store = store.clone();
        async move { store.reserve(&saga, &lines).await }
    })
    .await
}

fn lines(req: &ReserveRequest) -> Result<Vec<(Id, Quantity)>, ApiError> {
    req.items
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
        .collect()
}

/// Undoes a saga's reserve; the body carries the lines its reserve carried (the
/// saga's records live beside its items).
#[tracing::instrument(skip(store, body))]
pub async fn release(
    store: web::Data<StockStore>,
    path: web::Path<String>,
    body: web::Json<ReserveRequest>,
) -> Result<HttpResponse, ApiError> {
    let saga = Id::parse("saga_id", &path)?;
    let lines = lines(&body)?;
    let reply = store.release(&saga, &lines).await?;
    Ok(HttpResponse::Ok().json(reply))
}
