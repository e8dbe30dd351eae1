//! One read pass: every item, user, order and the order's sagas, each read once, all in one
//! phase (so the chaos driver sees one phase, not four). A read that did not answer a 2xx
//! with the expected body leaves `None`; its answer is in the exchanges.

use crate::api::{saga_states, Exchange, ItemView, OrderView, UserView};
use crate::phase::Phase;
use crate::runner::Runner;
use crate::setup::Fixture;
use crate::verify::Snapshot;
use futures::future::BoxFuture;
use futures::FutureExt;

/// What one pass read, aligned with the fixture's items, users and orders.
pub struct Pass {
    pub stock: Vec<Option<i64>>,
    pub credit: Vec<Option<i64>>,
    pub orders: Vec<Option<OrderView>>,
    pub sagas: Vec<Option<Vec<String>>>,
    pub exchanges: Vec<Exchange>,
}

impl Pass {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            stock: self.stock.clone(),
            credit: self.credit.clone(),
            orders: self.orders.clone(),
        }
    }
}

pub async fn read_all(runner: &Runner, phase: Phase, f: &Fixture) -> Pass {
    let api = &runner.api;
    let mut jobs: Vec<BoxFuture<'static, Exchange>> = Vec::new();
    for item in &f.items {
        let (api, id) = (api.clone(), item.id.clone());
        jobs.push(async move { api.find_item(phase, &id).await }.boxed());
    }
    for (user, _) in &f.users {
        let (api, id) = (api.clone(), user.clone());
        jobs.push(async move { api.find_user(phase, &id).await }.boxed());
    }
    for order in &f.orders {
        let (api, id) = (api.clone(), order.id.clone());
        jobs.push(async move { api.find_order(phase, &id).await }.boxed());
    }
    for order in &f.orders {
        let (api, id) = (api.clone(), order.id.clone());
        jobs.push(async move { api.order_sagas(phase, &id).await }.boxed());
    }
    let exchanges = runner.run_bounded(phase, jobs).await;
    // One exchange per job, in order (see `Runner::run`).
    let (items, rest) = exchanges.split_at(f.items.len());
    let (users, rest) = rest.split_at(f.users.len());
    let (orders, sagas) = rest.split_at(f.orders.len());
    let stock = items
        .iter()
        .map(|e| e.answer.json::<ItemView>().map(|v| v.stock))
        .collect();
    let credit = users
        .iter()
        .map(|e| e.answer.json::<UserView>().map(|v| v.credit))
        .collect();
    let orders = orders.iter().map(|e| e.answer.json()).collect();
    let sagas = sagas.iter().map(|e| saga_states(&e.answer)).collect();
    Pass {
        stock,
        credit,
        orders,
        sagas,
        exchanges,
    }
}
