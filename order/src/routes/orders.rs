//! Creating, reading and editing orders, batch_init's many orders, and an order's
//! saga log (inspection): parse the path, call the store with domain values, map
//! its answer.

use actix_web::{web, HttpResponse};
use common::api::{BatchInitReply, Done};
use common::error::ErrorBody;
use common::idempotency::{IdempotencyKey, KeyHeader};
use common::params::{Amount, BatchSize, Id, Quantity};
use common::ApiError;
use rand::{Rng, SeedableRng};

use super::{Ctx, OrderCreated, OrderLine, OrderView, SagaHistory, SagaView};
use crate::saga::log::SagaLog;
use crate::store::{Edit, Line, Order};

#[utoipa::path(
    post,
    path = "/create/{user_id}",
    summary = "Create an empty, unpaid order for a user",
    params(KeyHeader, ("user_id" = inline(Id), Path, description = "The user who will pay.")),
    responses(
        (status = 201, description = "The new order's id.", body = OrderCreated),
        (status = 400, description = "`user_id` or the `Idempotency-Key` header is malformed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The order store did not answer.", body = ErrorBody),
    )
)]
pub(super) async fn create(
    ctx: Ctx,
    idem: IdempotencyKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = Id::parse("user_id", &path)?;
    let id = ctx.store.create(&idem, &user).await?;
    Ok(HttpResponse::Created().json(OrderCreated {
        order_id: id.into_string(),
    }))
}

#[utoipa::path(
    get,
    path = "/find/{order_id}",
    summary = "An order: its lines, user, total cost and whether it is paid",
    params(("order_id" = inline(Id), Path, description = "The order.")),
    responses(
        (status = 200, description = "The order.", body = OrderView),
        (status = 400, description = "`order_id` is not a valid id.", body = ErrorBody),
        (status = 404, description = "No such order.", body = ErrorBody),
        (status = "5XX", description = "The order store did not answer.", body = ErrorBody),
    )
)]
pub(super) async fn find(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (id, order) = existing_order(&ctx, &path).await?;
    let items = order
        .lines
        .into_iter()
        .map(|l| OrderLine(l.item.into_string(), l.qty));
    Ok(HttpResponse::Ok().json(OrderView {
        order_id: id.into_string(),
        paid: order.paid,
        items: items.collect(),
        user_id: order.user.into_string(),
        total_cost: order.cost,
    }))
}

#[utoipa::path(
    post,
    path = "/addItem/{order_id}/{item_id}",
    summary = "Add one of an item to an order (as the course's locust scenarios call it)",
    params(
        KeyHeader,
        ("order_id" = inline(Id), Path, description = "The order."),
        ("item_id" = inline(Id), Path, description = "The item; its current price is added to the total cost."),
    ),
    responses(
        (status = 200, description = "The line was added.", body = Done),
        (status = 400, description = "A parameter or the `Idempotency-Key` header is malformed, or the total cost would exceed 2^63-1.", body = ErrorBody),
        (status = 404, description = "No such order or item; nothing changed.", body = ErrorBody),
        (status = 409, description = "The order is paid or being checked out; nothing changed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The order or stock service did not answer.", body = ErrorBody),
    )
)]
pub(super) async fn add_one(
    ctx: Ctx,
    idem: IdempotencyKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (order, item) = path.into_inner();
    add(ctx, idem, &order, &item, Quantity::one()).await
}

#[utoipa::path(
    post,
    path = "/addItem/{order_id}/{item_id}/{quantity}",
    summary = "Add a quantity of an item to an order",
    params(
        KeyHeader,
        ("order_id" = inline(Id), Path, description = "The order."),
        ("item_id" = inline(Id), Path, description = "The item; its current price times the quantity is added to the total cost."),
        ("quantity" = inline(Quantity), Path, description = "How many."),
    ),
    responses(
        (status = 200, description = "The line was added.", body = Done),
        (status = 400, description = "A parameter or the `Idempotency-Key` header is malformed, or the cost would exceed 2^63-1.", body = ErrorBody),
        (status = 404, description = "No such order or item; nothing changed.", body = ErrorBody),
        (status = 409, description = "The order is paid or being checked out; nothing changed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The order or stock service did not answer.", body = ErrorBody),
    )
)]
pub(super) async fn add_item(
    ctx: Ctx,
    idem: IdempotencyKey,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (order, item, qty) = path.into_inner();
    add(ctx, idem, &order, &item, Quantity::parse("quantity", &qty)?).await
}

async fn add(
    ctx: Ctx,
    idem: IdempotencyKey,
    order: &str,
    item: &str,
    qty: Quantity,
) -> Result<HttpResponse, ApiError> {
    let order = Id::parse("order_id", order)?;
    let item = Id::parse("item_id", item)?;
    let price = ctx
        .peers
        .price(&item)
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
        .add_item(&idem, &order, &item, qty.get(), cost)
        .await?;
    edit_answer(edit, &order, &item)
}

#[utoipa::path(
    delete,
    path = "/removeItem/{order_id}/{item_id}",
    summary = "Remove every line of an item from an order, and what they added to its cost",
    params(
        KeyHeader,
        ("order_id" = inline(Id), Path, description = "The order."),
        ("item_id" = inline(Id), Path, description = "The item."),
    ),
    responses(
        (status = 200, description = "The lines were removed.", body = Done),
        (status = 400, description = "A parameter or the `Idempotency-Key` header is malformed.", body = ErrorBody),
        (status = 404, description = "No such order, or the item is not in it; nothing changed.", body = ErrorBody),
        (status = 409, description = "The order is paid or being checked out; nothing changed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The order store did not answer.", body = ErrorBody),
    )
)]
pub(super) async fn remove_item(
    ctx: Ctx,
    idem: IdempotencyKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let order = Id::parse("order_id", &path.0)?;
    let item = Id::parse("item_id", &path.1)?;
    let edit = ctx.store.remove_item(&idem, &order, &item).await?;
    edit_answer(edit, &order, &item)
}

fn edit_answer(edit: Edit, order: &Id, item: &Id) -> Result<HttpResponse, ApiError> {
    match edit {
        Edit::Ok => Ok(HttpResponse::Ok().json(Done { done: true })),
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

#[utoipa::path(
    post,
    path = "/batch_init/{n}/{n_items}/{n_users}/{item_price}",
    summary = "Create (or reset) unpaid orders \"0\"..\"n-1\", each with two random items of quantity 1",
    params(
        KeyHeader,
        ("n" = inline(BatchSize), Path, description = "How many orders."),
        ("n_items" = inline(Quantity), Path, description = "Items are picked from \"0\"..\"n_items-1\"."),
        ("n_users" = inline(Quantity), Path, description = "Users are picked from \"0\"..\"n_users-1\"."),
        ("item_price" = inline(Amount), Path, description = "Each order's total cost is twice this."),
    ),
    responses(
        (status = 200, description = "What was created.", body = BatchInitReply),
        (status = 400, description = "A parameter or the `Idempotency-Key` header is malformed, or out of range.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The order store did not answer.", body = ErrorBody),
    )
)]
pub(super) async fn batch_init(
    ctx: Ctx,
    idem: IdempotencyKey,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (n, n_items, n_users, price) = path.into_inner();
    let n = BatchSize::parse("n", &n)?.get();
    let n_items = Quantity::parse("n_items", &n_items)?.get();
    let n_users = Quantity::parse("n_users", &n_users)?.get();
    let price = Amount::parse("item_price", &price)?.get();
    let cost = price.checked_mul(2).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "item_price {price} times 2 does not fit in a 64-bit integer"
        ))
    })?;
    // Generated lazily, as they are written.
    let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
    let orders = (0..n).map(move |i| {
        let mut line = || Line {
            item: Id::generated(rng.random_range(0..n_items).to_string()),
            qty: 1,
            cost: price,
        };
        let lines = vec![line(), line()];
        let user = Id::generated(rng.random_range(0..n_users).to_string());
        let order = Order {
            lines,
            cost,
            ..Order::new(user)
        };
        (Id::generated(i.to_string()), order)
    });
    ctx.store.batch_init(&idem, orders).await?;
    Ok(HttpResponse::Ok().json(BatchInitReply {
        msg: format!("batch init for {n} orders successful"),
    }))
}

#[utoipa::path(
    get,
    path = "/saga/{order_id}",
    summary = "The checkout sagas of an order and their logs (inspection, for debugging)",
    params(("order_id" = inline(Id), Path, description = "The order.")),
    responses(
        (status = 200, description = "The order's sagas, oldest first.", body = SagaHistory),
        (status = 400, description = "`order_id` is not a valid id.", body = ErrorBody),
        (status = 404, description = "No such order.", body = ErrorBody),
        (status = "5XX", description = "The order store did not answer.", body = ErrorBody),
    )
)]
pub(super) async fn sagas(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (order, _) = existing_order(&ctx, &path).await?;
    let mut out = Vec::new();
    for id in ctx.store.history(&order).await? {
        if let Some(saga) = ctx.store.saga(&order, &id).await? {
            out.push(SagaView {
                saga_id: id.into_string(),
                state: saga.state.as_str().into(),
                log: saga.fields,
            });
        }
    }
    Ok(HttpResponse::Ok().json(SagaHistory {
        order_id: order.into_string(),
        sagas: out,
    }))
}

/// The order a path names: a 400 for a malformed id, a 404 for no such order.
async fn existing_order(ctx: &Ctx, raw: &str) -> Result<(Id, Order), ApiError> {
    let id = Id::parse("order_id", raw)?;
    let order = ctx.store.get(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok((id, order))
}

fn not_found(order: &Id) -> ApiError {
    ApiError::NotFound(format!("order {order} not found"))
}
