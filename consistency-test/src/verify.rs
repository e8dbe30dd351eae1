//! The verdict: a pure function from what the client issued, what every request answered
//! and what was read back to a list of checks, each with every discrepancy spelled out. No
//! I/O here, so it is unit-tested with hand-built observations.
//!
//! The model is "every write the client issued is applied exactly once": the fixture holds
//! what was *sent* (an add that answered 502 still counts as added), so a lost or doubled
//! write shows up in the final state, whatever it answered. The answers are judged on their
//! own (`answers.rs`): any 5xx, any request without an answer, any refused set-up write.

mod answers;

use crate::api::{Exchange, OrderView};
use crate::setup::{ItemFixture, OrderFixture};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct ItemObs {
    pub fixture: ItemFixture,
    /// `None`: could not be read.
    pub final_stock: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct UserObs {
    pub id: String,
    /// The funds the client added.
    pub initial_credit: i64,
    pub final_credit: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct OrderObs {
    pub fixture: OrderFixture,
    /// The order's checkout and what it answered.
    pub checkout: Exchange,
    pub found: Option<OrderView>,
    /// The states of the order's sagas, oldest first (`None`: could not be read).
    pub sagas: Option<Vec<String>>,
}

/// The values one read pass saw, aligned with the observation's items, users and orders.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub stock: Vec<Option<i64>>,
    pub credit: Vec<Option<i64>>,
    pub orders: Vec<Option<OrderView>>,
}

#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Every request of the round but the checkouts (those are in `orders`).
    pub exchanges: Vec<Exchange>,
    pub items: Vec<ItemObs>,
    pub users: Vec<UserObs>,
    pub orders: Vec<OrderObs>,
    /// The reads done while components were still being killed, when the verdict is taken
    /// from a later, settled pass.
    pub under_chaos: Option<Snapshot>,
}

impl Observation {
    /// Every request of the round, checkouts included.
    pub fn all_exchanges(&self) -> impl Iterator<Item = &Exchange> {
        self.exchanges
            .iter()
            .chain(self.orders.iter().map(|o| &o.checkout))
    }
}

/// `Answers` checks judge what requests answered and never change by reading again;
/// `State` checks judge the final reads (a re-read may make them pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Answers,
    State,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub kind: Kind,
    pub discrepancies: Vec<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

fn check(name: &'static str, discrepancies: Vec<String>) -> Check {
    Check {
        name,
        kind: Kind::State,
        discrepancies,
    }
}

/// Successes the system must give: every order is for one unit its user can pay, so each
/// item sells min(stock, orders for it).
pub fn expected_successes(obs: &Observation) -> usize {
    let mut demand: HashMap<&str, usize> = HashMap::new();
    for o in &obs.orders {
        *demand.entry(o.fixture.item_id.as_str()).or_default() += 1;
    }
    obs.items
        .iter()
        .map(|i| {
            let stock = usize::try_from(i.fixture.stock).unwrap_or(0);
            stock.min(demand.get(i.fixture.id.as_str()).copied().unwrap_or(0))
        })
        .sum()
}

fn paid(o: &OrderObs) -> Option<&OrderView> {
    o.found.as_ref().filter(|f| f.paid)
}

pub fn verify(obs: &Observation) -> Vec<Check> {
    let mut checks = answers::checks(obs);
    checks.extend([
        readable(obs),
        success_count(obs),
        stock_conserved(obs),
        credit_conserved(obs),
        answers_match_payments(obs),
        users_charged_once(obs),
        orders_intact(obs),
        sagas_finished(obs),
        agree_under_chaos(obs),
    ]);
    checks
}

fn readable(obs: &Observation) -> Check {
    let mut d = Vec::new();
    for i in obs.items.iter().filter(|i| i.final_stock.is_none()) {
        d.push(format!("item {} could not be read", i.fixture.id));
    }
    for u in obs.users.iter().filter(|u| u.final_credit.is_none()) {
        d.push(format!("user {} could not be read", u.id));
    }
    for o in obs.orders.iter().filter(|o| o.found.is_none()) {
        d.push(format!("order {} could not be read", o.fixture.id));
    }
    for o in obs.orders.iter().filter(|o| o.sagas.is_none()) {
        d.push(format!(
            "the sagas of order {} could not be read",
            o.fixture.id
        ));
    }
    check("every created entity exists afterwards", d)
}

fn success_count(obs: &Observation) -> Check {
    let got = obs
        .orders
        .iter()
        .filter(|o| o.checkout.answer.is_success())
        .count();
    let want = expected_successes(obs);
    let d = if got == want {
        vec![]
    } else {
        vec![format!(
            "{got} checkouts succeeded (non-4xx), expected exactly {want}"
        )]
    };
    check("exact number of successes", d)
}

fn stock_conserved(obs: &Observation) -> Check {
    let mut sold: HashMap<&str, i64> = HashMap::new();
    for view in obs.orders.iter().filter_map(paid) {
        for (item, qty) in &view.items {
            *sold.entry(item.as_str()).or_default() += qty;
        }
    }
    let mut d = Vec::new();
    for i in &obs.items {
        let Some(now) = i.final_stock else { continue };
        let sold = sold.get(i.fixture.id.as_str()).copied().unwrap_or(0);
        if now < 0 {
            d.push(format!("item {}: stock is {now}, below 0", i.fixture.id));
        }
        if i.fixture.stock - now != sold {
            d.push(format!(
                "item {}: {} added, stock now {now} (-{}) but paid orders hold {sold} units",
                i.fixture.id,
                i.fixture.stock,
                i.fixture.stock - now
            ));
        }
    }
    check("stock == added - units in paid orders", d)
}

fn credit_conserved(obs: &Observation) -> Check {
    if obs.users.iter().any(|u| u.final_credit.is_none()) {
        return check("credit conserved", vec!["some users unreadable".into()]);
    }
    let added: i64 = obs.users.iter().map(|u| u.initial_credit).sum();
    let left: i64 = obs.users.iter().filter_map(|u| u.final_credit).sum();
    let charged: i64 = obs
        .orders
        .iter()
        .filter_map(paid)
        .map(|v| v.total_cost)
        .sum();
    let d = if left + charged == added {
        vec![]
    } else {
        vec![format!(
            "users hold {left} credit + paid orders cost {charged} = {}, but {added} was added",
            left + charged
        )]
    };
    check("credit conserved", d)
}

fn answers_match_payments(obs: &Observation) -> Check {
    let mut d = Vec::new();
    for o in &obs.orders {
        let Some(view) = &o.found else { continue };
        let answer = &o.checkout.answer;
        match (answer.is_success(), view.paid) {
            (true, false) => d.push(format!(
                "order {}: checkout answered {answer} but the order is not paid",
                o.fixture.id
            )),
            (false, true) => d.push(format!(
                "order {}: checkout answered {answer} but the order is paid",
                o.fixture.id
            )),
            _ => {}
        }
    }
    check("successful answers == paid orders", d)
}

fn users_charged_once(obs: &Observation) -> Check {
    let mut owed: HashMap<&str, i64> = HashMap::new();
    for o in &obs.orders {
        let cost = paid(o).map_or(0, |v| v.total_cost);
        *owed.entry(o.fixture.user_id.as_str()).or_default() += cost;
    }
    let mut d = Vec::new();
    for u in &obs.users {
        let Some(now) = u.final_credit else { continue };
        let want = u.initial_credit - owed.get(u.id.as_str()).copied().unwrap_or(0);
        if now != want {
            d.push(format!(
                "user {}: credit {now}, expected {want} (funds added {}, paid orders cost {})",
                u.id,
                u.initial_credit,
                u.initial_credit - want
            ));
        }
    }
    check("credit == funds added - paid orders", d)
}

/// One addItem issued is exactly one line: the order holds the line that was added, once,
/// and its total is that line's cost.
fn orders_intact(obs: &Observation) -> Check {
    let prices: HashMap<&str, i64> = obs
        .items
        .iter()
        .map(|i| (i.fixture.id.as_str(), i.fixture.price))
        .collect();
    let mut d = Vec::new();
    for o in &obs.orders {
        let Some(view) = &o.found else { continue };
        let f = &o.fixture;
        let want_lines = vec![(f.item_id.clone(), f.quantity)];
        let want_cost = prices.get(f.item_id.as_str()).copied().unwrap_or(0) * f.quantity;
        if view.user_id != f.user_id {
            d.push(format!(
                "order {}: belongs to user {}, created for user {}",
                f.id, view.user_id, f.user_id
            ));
        }
        if view.items != want_lines || view.total_cost != want_cost {
            d.push(format!(
                "order {}: holds {} total {}, expected {} total {want_cost}",
                f.id,
                lines(&view.items),
                view.total_cost,
                lines(&want_lines)
            ));
        }
    }
    check("each order holds exactly the lines added", d)
}

/// `[item x2, other x1]`
fn lines(lines: &[(String, i64)]) -> String {
    let shown: Vec<String> = lines.iter().map(|(i, q)| format!("{i} x{q}")).collect();
    format!("[{}]", shown.join(", "))
}

/// Every saga reached a final state (read after the settle pause, so "no saga remains
/// unfinished N s after all processes are back"), and a paid order has exactly one
/// committed saga, an unpaid one none.
fn sagas_finished(obs: &Observation) -> Check {
    let mut d = Vec::new();
    for o in &obs.orders {
        let Some(states) = &o.sagas else { continue };
        let open: Vec<&str> = states
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "committed" && *s != "aborted")
            .collect();
        if !open.is_empty() {
            d.push(format!(
                "order {}: saga(s) still unfinished in state {open:?}",
                o.fixture.id
            ));
        }
        let committed = states.iter().filter(|s| *s == "committed").count();
        let want = usize::from(o.found.as_ref().is_some_and(|f| f.paid));
        if o.found.is_some() && committed != want {
            d.push(format!(
                "order {}: {committed} committed saga(s) for an order with paid = {}",
                o.fixture.id,
                want == 1
            ));
        }
    }
    check("every saga finished, one committed per paid order", d)
}

/// Every checkout had answered before the reads under chaos began, and an answer is the
/// truth: so what was read while components were dying must be what is read afterwards.
/// A read that failed under chaos is judged by the answer checks, not here.
fn agree_under_chaos(obs: &Observation) -> Check {
    let Some(snap) = &obs.under_chaos else {
        return check("reads under chaos == settled reads", vec![]);
    };
    let mut d = Vec::new();
    let differ = |what: &str, id: &str, early: String, late: String| {
        format!("{what} {id}: read {early} under chaos, {late} afterwards")
    };
    for (i, early) in obs.items.iter().zip(&snap.stock) {
        if let (Some(early), Some(late)) = (early, i.final_stock) {
            if *early != late {
                d.push(differ(
                    "item",
                    &i.fixture.id,
                    format!("stock {early}"),
                    format!("{late}"),
                ));
            }
        }
    }
    for (u, early) in obs.users.iter().zip(&snap.credit) {
        if let (Some(early), Some(late)) = (early, u.final_credit) {
            if *early != late {
                d.push(differ(
                    "user",
                    &u.id,
                    format!("credit {early}"),
                    format!("{late}"),
                ));
            }
        }
    }
    for (o, early) in obs.orders.iter().zip(&snap.orders) {
        if let (Some(early), Some(late)) = (early, &o.found) {
            if early != late {
                d.push(differ(
                    "order",
                    &o.fixture.id,
                    format!("{early:?}"),
                    format!("{late:?}"),
                ));
            }
        }
    }
    check("reads under chaos == settled reads", d)
}

#[cfg(test)]
mod tests;
