//! The order service's public routes: thin handlers that parse, call, and map.

use actix_web::{web, HttpResponse};
use common::params::{Amount, Id, Quantity};
use common::ApiError;
use rand::Rng;
use serde_json::json;

use crate::saga::checkout::checkout;
use crate::saga::runner::Ending;
use crate::saga::SagaContext;
use crate::store::Edit;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/create/{user_id}", web::post().to(create))
        .route("/find/{order_id}", web::get().to(find))
        .route("/addItem/{order_id}/{item_id}", web::post().to(add_one))
        .route(
            "/addItem/{order_id}/{item_id}/{quantity}",
            web::post().to(add_item),
        )
        .route(
            "/removeItem/{order_id}/{item_id}",
            web::delete().to(remove_item),
        )
        .route("/checkout/{order_id}", web::post().to(checkout_order))
        .route(
            "/batch_init/{n}/{n_items}/{n_users}/{item_price}",
            web::post().to(batch_init),
        )
        .route("/saga/{order_id}", web::get().to(sagas));
}

type Ctx = web::Data<SagaContext>;

async fn create(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let user = Id::parse("user_id", &path)?;
    let id = uuid::Uuid::new_v4().to_string();
    ctx.store.create(&id, user.as_str()).await?;
    Ok(HttpResponse::Created().json(json!({ "order_id": id })))
}

async fn find(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = Id::parse("order_id", &path)?;
    let order = ctx
        .store
        .get(id.as_str())
        .await?
        .ok_or_else(|| not_found(&id))?;
    let items: Vec<(String, i64)> = order.lines.into_iter().map(|l| (l.item, l.qty)).collect();
    Ok(HttpResponse::Ok().json(json!({
        "order_id": id.as_str(),
        "paid": order.paid,
        "items": items,
        "user_id": order.user,
        "total_cost": order.cost,
    })))
}

async fn add_one(ctx: Ctx, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (order, item) = path.into_inner();
    add(ctx, &order, &item, Quantity::one()).await
}

async fn add_item(
    ctx: Ctx,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (order, item, qty) = path.into_inner();
    add(ctx, &order, &item, Quantity::parse("quantity", &qty)?).await
}

async fn add(ctx: Ctx, order: &str, item: &str, qty: Quantity) -> Result<HttpResponse, ApiError> {
    let order = Id::parse("order_id", order)?;
    let item = Id::parse("item_id", item)?;
    let price = ctx
        .peers
        .price(item.as_str())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound(format!("item {item} not found")))?;
    let cost = price.checked_mul(qty.get()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "quantity {} times price {price} does not fit in a 64-bit integer",
            qty.get()
        ))
    })?;
    let edit = ctx
        .store
        .add_item(order.as_str(), item.as_str(), qty.get(), cost)
        .await?;
    edit_answer(edit, &order, &item)
}

async fn remove_item(
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let order = Id::parse("order_id", &path.0)?;
    let item = Id::parse("item_id", &path.1)?;
    let edit = ctx.store.remove_item(order.as_str(), item.as_str()).await?;
    edit_answer(edit, &order, &item)
}

fn edit_answer(edit: Edit, order: &Id, item: &Id) -> Result<HttpResponse, ApiError> {
    match edit {
        Edit::Ok => Ok(HttpResponse::Ok().json(json!({ "done": true }))),
        Edit::Missing => Err(not_found(order)),
        Edit::Paid => Err(ApiError::Conflict(format!(
            "order {order} is paid and cannot change"
        ))),
        Edit::Busy => Err(ApiError::Conflict(format!(
            "order {order} is being checked out and cannot change"
        ))),
        Edit::Overflow => Err(ApiError::BadRequest(format!(
            "the total cost of order {order} would not fit in a 64-bit integer"
        ))),
        Edit::Absent => Err(ApiError::NotFound(format!(
            "item {item} is not in order {order}"
        ))),
    }
}

async fn checkout_order(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let order = Id::parse("order_id", &path)?;
    match checkout(&ctx, order.as_str()).await? {
        Ending::Committed => Ok(HttpResponse::Ok().json(json!({ "paid": true }))),
        Ending::Aborted(reason) => Err(ApiError::Conflict(reason)),
    }
}

async fn batch_init(
    ctx: Ctx,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (n, n_items, n_users, price) = path.into_inner();
    let n = Quantity::parse_at_most("n", &n, 10_000_000)?.get();
    let n_items = Quantity::parse("n_items", &n_items)?.get();
    let n_users = Quantity::parse("n_users", &n_users)?.get();
    let price = Amount::parse("item_price", &price)?.get();
    let cost = price.checked_mul(2).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "item_price {price} times 2 does not fit in a 64-bit integer"
        ))
    })?;
    let mut rng = rand::rng();
    let orders: Vec<_> = (0..n)
        .map(|i| {
            let (a, b) = (rng.random_range(0..n_items), rng.random_range(0..n_items));
            let user = rng.random_range(0..n_users);
            (
                i.to_string(),
                user.to_string(),
                cost,
                format!("{a}|1|{price};{b}|1|{price}"),
            )
        })
        .collect();
    ctx.store.batch_init(orders.into_iter()).await?;
    Ok(HttpResponse::Ok().json(json!({ "msg": format!("batch init for {n} orders successful") })))
}

/// Saga inspection: the order's sagas, oldest first, with every logged field.
async fn sagas(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let order = Id::parse("order_id", &path)?;
    ctx.store
        .get(order.as_str())
        .await?
        .ok_or_else(|| not_found(&order))?;
    let mut out = Vec::new();
    for id in ctx.store.history(order.as_str()).await? {
        if let Some(saga) = ctx.store.saga(&id).await? {
            out.push(json!({ "saga_id": id, "state": saga.state.as_str(), "log": saga.fields }));
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "order_id": order.as_str(), "sagas": out })))
}

fn not_found(order: &Id) -> ApiError {
    ApiError::NotFound(format!("order {order} not found"))
}
