//! Builds one round's fixture through the public API, one phase after the other: create
//! items, add their stock, create users, fund them with one credit each, create one order
//! per user, add one unit of item (i mod items) to it.
//!
//! Every write is sent once and its answer kept; nothing here judges or aborts. What the
//! fixture records is what the client *issued* (an add that answered 502 still counts as
//! added): the verdict then demands that the system holds exactly that. A write that needs
//! an id its create did not yield cannot be sent; it is counted as skipped, and the failed
//! create is a discrepancy of its own.

use crate::api::Exchange;
use crate::phase::Phase;
use crate::runner::Runner;

/// Price of every item and credit of every user: one order costs exactly what its user has.
pub const PRICE: i64 = 1;
pub const CREDIT: i64 = 1;

#[derive(Debug, Clone)]
pub struct ItemFixture {
    pub id: String,
    /// Stock the client added (`add` issued, whatever it answered).
    pub stock: i64,
    pub price: i64,
}

#[derive(Debug, Clone)]
pub struct OrderFixture {
    pub id: String,
    pub user_id: String,
    /// The one line the client added (`addItem` issued, whatever it answered).
    pub item_id: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Fixture {
    pub items: Vec<ItemFixture>,
    /// (user id, credit added)
    pub users: Vec<(String, i64)>,
    pub orders: Vec<OrderFixture>,
}

/// The fixture, every exchange of the set-up phases, and per phase the writes that could
/// not be sent for want of an id.
pub struct Setup {
    pub fixture: Fixture,
    pub exchanges: Vec<Exchange>,
    pub skipped: Vec<(Phase, usize)>,
}

fn ids(exchanges: &[Exchange], phase: Phase) -> Vec<Option<String>> {
    let field = phase.created_field().unwrap_or_default();
    exchanges
        .iter()
        .map(|e| e.answer.created_id(field))
        .collect()
}

pub async fn build(runner: &Runner, items: usize, users: usize, stock: i64) -> Setup {
    let api = &runner.api;
    let mut log = Vec::new();
    let mut skipped = Vec::new();

    let jobs = (0..items).map(|_| {
        let api = api.clone();
        async move { api.create_item(PRICE).await }
    });
    let created = runner.run_bounded(Phase::CreateItems, jobs.collect()).await;
    let item_ids: Vec<String> = ids(&created, Phase::CreateItems)
        .into_iter()
        .flatten()
        .collect();
    log.extend(created);
    skipped.push((
        Phase::AddStock,
        if stock > 0 { items - item_ids.len() } else { 0 },
    ));
    let jobs: Vec<_> = item_ids
        .iter()
        .filter(|_| stock > 0)
        .map(|id| {
            let (api, id) = (api.clone(), id.clone());
            async move { api.add_stock(&id, stock).await }
        })
        .collect();
    log.extend(runner.run_bounded(Phase::AddStock, jobs).await);

    let jobs = (0..users).map(|_| {
        let api = api.clone();
        async move { api.create_user().await }
    });
    let created = runner.run_bounded(Phase::CreateUsers, jobs.collect()).await;
    // Index of the user in the round (for its item) and its id.
    let user_ids: Vec<(usize, String)> = ids(&created, Phase::CreateUsers)
        .into_iter()
        .enumerate()
        .filter_map(|(i, id)| Some((i, id?)))
        .collect();
    log.extend(created);
    skipped.push((Phase::AddFunds, users - user_ids.len()));
    let jobs = user_ids.iter().map(|(_, id)| {
        let (api, id) = (api.clone(), id.clone());
        async move { api.add_funds(&id, CREDIT).await }
    });
    log.extend(runner.run_bounded(Phase::AddFunds, jobs.collect()).await);

    // With no item at all there is nothing to order.
    let buyers: Vec<&(usize, String)> = user_ids.iter().filter(|_| !item_ids.is_empty()).collect();
    skipped.push((Phase::CreateOrders, users - buyers.len()));
    let jobs = buyers.iter().map(|(_, user)| {
        let (api, user) = (api.clone(), user.clone());
        async move { api.create_order(&user).await }
    });
    let created = runner
        .run_bounded(Phase::CreateOrders, jobs.collect())
        .await;
    let orders: Vec<OrderFixture> = ids(&created, Phase::CreateOrders)
        .into_iter()
        .zip(&buyers)
        .filter_map(|(id, (i, user))| {
            Some(OrderFixture {
                id: id?,
                user_id: user.clone(),
                item_id: item_ids[i % item_ids.len()].clone(),
                quantity: 1,
            })
        })
        .collect();
    log.extend(created);
    skipped.push((Phase::AddItems, users - orders.len()));
    let jobs = orders.iter().map(|o| {
        let (api, o) = (api.clone(), o.clone());
        async move { api.add_item(&o.id, &o.item_id, o.quantity).await }
    });
    log.extend(runner.run_bounded(Phase::AddItems, jobs.collect()).await);

    let fixture = Fixture {
        items: item_ids
            .into_iter()
            .map(|id| ItemFixture {
                id,
                stock,
                price: PRICE,
            })
            .collect(),
        users: user_ids.into_iter().map(|(_, id)| (id, CREDIT)).collect(),
        orders,
    };
    Setup {
        fixture,
        exchanges: log,
        skipped,
    }
}
