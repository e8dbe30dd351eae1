//! Builds one round's fixture through the public API: items with stock, users with one
//! credit each, one order per user for one unit of item (i mod N_ITEMS).
//!
//! Runs before any chaos starts; it reads everything back and refuses to go on if the
//! system does not hold exactly what was set up (a retried add could have applied twice).

use crate::api::Api;
use anyhow::{bail, Context, Result};
use futures::{stream, StreamExt, TryStreamExt};
use std::future::Future;

/// Price of every item and credit of every user: one order costs exactly what its user has.
pub const PRICE: i64 = 1;
pub const CREDIT: i64 = 1;

#[derive(Debug, Clone)]
pub struct ItemFixture {
    pub id: String,
    pub stock: i64,
    pub price: i64,
}

#[derive(Debug, Clone)]
pub struct OrderFixture {
    pub id: String,
    pub user_id: String,
    pub item_id: String,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct Fixture {
    pub items: Vec<ItemFixture>,
    /// (user id, credit added)
    pub users: Vec<(String, i64)>,
    pub orders: Vec<OrderFixture>,
}

/// Runs `job` for 0..n with `concurrency` in flight, in order, printing progress.
async fn bounded<T, F, Fut>(label: &str, n: usize, concurrency: usize, job: F) -> Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let step = (n / 10).max(1);
    let mut done = 0usize;
    let results: Vec<T> = stream::iter((0..n).map(job))
        .buffered(concurrency)
        .inspect_ok(|_| {
            done += 1;
            if done.is_multiple_of(step) || done == n {
                println!("  setup {label}: {done}/{n}");
            }
        })
        .try_collect()
        .await?;
    Ok(results)
}

pub async fn build(
    api: &Api,
    items: usize,
    users: usize,
    stock: i64,
    conc: usize,
) -> Result<Fixture> {
    let item_ids = bounded("items", items, conc, |_| async move {
        let id = api.create_item(PRICE).await?;
        if stock > 0 {
            api.add_stock(&id, stock).await?;
        }
        Ok(id)
    })
    .await?;
    let item_ids = &item_ids;
    let rows = bounded("users and orders", users, conc, |i| async move {
        let user = api.create_user().await?;
        api.add_funds(&user, CREDIT).await?;
        let order = api.create_order(&user).await?;
        let item = item_ids[i % item_ids.len()].clone();
        api.add_item(&order, &item, 1)
            .await
            .with_context(|| format!("order {i}"))?;
        Ok(OrderFixture {
            id: order,
            user_id: user,
            item_id: item,
            quantity: 1,
        })
    })
    .await?;
    let fixture = Fixture {
        items: item_ids
            .iter()
            .map(|id| ItemFixture {
                id: id.clone(),
                stock,
                price: PRICE,
            })
            .collect(),
        users: rows.iter().map(|o| (o.user_id.clone(), CREDIT)).collect(),
        orders: rows,
    };
    check_read_back(api, &fixture, conc).await?;
    Ok(fixture)
}

async fn check_read_back(api: &Api, f: &Fixture, conc: usize) -> Result<()> {
    for item in &f.items {
        let seen = api.find_item(&item.id).await?;
        if seen.stock != item.stock || seen.price != item.price {
            bail!(
                "setup: item {} reads stock {} price {}, expected {} and {}",
                item.id,
                seen.stock,
                seen.price,
                item.stock,
                item.price
            );
        }
    }
    let users = &f.users;
    bounded("read back users", users.len(), conc, |i| async move {
        let (id, credit) = &users[i];
        let seen = api.find_user(id).await?;
        if seen.credit != *credit {
            bail!(
                "setup: user {id} reads credit {}, expected {credit}",
                seen.credit
            );
        }
        Ok(())
    })
    .await?;
    Ok(())
}
