//! The money and stock invariants of a benchmark: a snapshot before the runs and one after
//! (exact sums on every master, and a sample of users and items read through the API and
//! straight from their master), and what the two must agree on.

use super::error::{Error, Result};
use super::gateway::Gateway;
use super::sums::{self, FIELD_SUM, ORDER_SUMS};
use crate::cluster;
use crate::stack::Cluster;
use rand::Rng;
use std::time::Duration;

/// The users and items checked through the API (an id may come twice).
pub struct Sample {
    pub users: Vec<u64>,
    pub items: Vec<u64>,
}

impl Sample {
    pub fn draw(n: usize, users: u64, items: u64) -> Sample {
        let mut rng = rand::rng();
        Sample {
            users: (0..n).map(|_| rng.random_range(0..users)).collect(),
            items: (0..n).map(|_| rng.random_range(0..items)).collect(),
        }
    }
}

/// One sampled user's credit or item's stock: through the API, and its hash field on its
/// master (`None`: no such field).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub api: i128,
    pub redis: Option<i128>,
}

/// The order cluster's sums (`lua/order_sums.lua`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Orders {
    pub paid: i128,
    pub cost: i128,
    pub units: i128,
    pub busy: i128,
    /// Per sampled user, the cost of its paid orders.
    pub user_cost: Vec<i128>,
    /// Per sampled item, its units in paid orders.
    pub item_units: Vec<i128>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub credit: i128,
    pub stock: i128,
    pub orders: Orders,
    pub users: Vec<Reading>,
    pub items: Vec<Reading>,
}

/// The three clusters, by service.
pub struct Clusters {
    pub order: Cluster,
    pub stock: Cluster,
    pub payment: Cluster,
}

const API_BOUND: Duration = Duration::from_secs(10);

pub async fn snapshot(c: &Clusters, gateway: &Gateway, sample: &Sample) -> Result<Snapshot> {
    let field_sum = |pattern: &str, field: &str| vec![pattern.to_string(), field.to_string()];
    let credit = sums::on_masters(&c.payment, FIELD_SUM, &field_sum("user:*", "credit")).await?;
    let stock = sums::on_masters(&c.stock, FIELD_SUM, &field_sum("item:*", "stock")).await?;
    let mut args = vec![sample.users.len().to_string()];
    args.extend(sample.users.iter().chain(&sample.items).map(u64::to_string));
    let orders = sums::on_masters(&c.order, ORDER_SUMS, &args).await?;
    let mut snap = Snapshot {
        credit: second(&credit)?,
        stock: second(&stock)?,
        orders: orders_of(&orders, sample.users.len())?,
        ..Snapshot::default()
    };
    for u in &sample.users {
        let (path, key) = (format!("/payment/find_user/{u}"), format!("user:{{{u}}}"));
        snap.users.push(Reading {
            api: gateway.get_int(&path, "credit", API_BOUND).await?,
            redis: field_on_master(&c.payment, &key, "credit").await?,
        });
    }
    for i in &sample.items {
        let (path, key) = (format!("/stock/find/{i}"), format!("item:{{{i}}}"));
        snap.items.push(Reading {
            api: gateway.get_int(&path, "stock", API_BOUND).await?,
            redis: field_on_master(&c.stock, &key, "stock").await?,
        });
    }
    Ok(snap)
}

/// `lua/field_sum.lua` answers the number of keys, then the sum.
fn second(answer: &[i128]) -> Result<i128> {
    answer
        .get(1)
        .copied()
        .ok_or_else(|| Error::Failed(format!("a field sum answered {answer:?}")))
}

/// `lua/order_sums.lua` answers orders, paid, cost, units, busy, then the user costs and
/// the item units of the sample.
fn orders_of(a: &[i128], sampled: usize) -> Result<Orders> {
    if a.len() != 5 + 2 * sampled {
        return Err(Error::Failed(format!("the order sums answered {a:?}")));
    }
    Ok(Orders {
        paid: a[1],
        cost: a[2],
        units: a[3],
        busy: a[4],
        user_cost: a[5..5 + sampled].to_vec(),
        item_units: a[5 + sampled..].to_vec(),
    })
}

/// A hash field read on the master of its key now.
async fn field_on_master(cluster: &Cluster, key: &str, field: &str) -> Result<Option<i128>> {
    let node = cluster::master_of(cluster, key).await?;
    let v = node.query(&["HGET", key, field]).await?;
    Ok(v.trim().parse().ok())
}

/// What the runs changed, from the order cluster's sums.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub paid: i128,
    pub cost: i128,
    pub units: i128,
}

pub fn change(before: &Snapshot, after: &Snapshot) -> Change {
    Change {
        paid: after.orders.paid - before.orders.paid,
        cost: after.orders.cost - before.orders.cost,
        units: after.orders.units - before.orders.units,
    }
}

/// Every invariant that does not hold between `before` and `after`, said in a line each:
/// no order left busy; credit and stock fell by exactly what the newly paid orders cost
/// and hold, in total and for each sampled user and item; the API shows what Redis holds.
pub fn problems(sample: &Sample, before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let ch = change(before, after);
    if after.orders.busy != 0 {
        out.push(format!("{} orders still marked busy", after.orders.busy));
    }
    if after.credit + ch.cost != before.credit {
        out.push(format!(
            "money: credit after {} + cost of newly paid orders {} != credit before {}",
            after.credit, ch.cost, before.credit
        ));
    }
    if after.stock + ch.units != before.stock {
        out.push(format!(
            "stock: stock after {} + units of newly paid orders {} != stock before {}",
            after.stock, ch.units, before.stock
        ));
    }
    for (k, u) in sample.users.iter().enumerate() {
        let spent = after.orders.user_cost[k] - before.orders.user_cost[k];
        let why = format!("its newly paid orders cost {spent}");
        let readings = (&before.users[k], &after.users[k]);
        out.extend(sampled(
            &format!("user {u}"),
            "credit",
            readings,
            spent,
            &why,
        ));
    }
    for (k, i) in sample.items.iter().enumerate() {
        let sold = after.orders.item_units[k] - before.orders.item_units[k];
        let why = format!("newly paid orders hold {sold} units");
        let readings = (&before.items[k], &after.items[k]);
        out.extend(sampled(&format!("item {i}"), "stock", readings, sold, &why));
    }
    out
}

/// The invariants of one sampled user or item (`who`), whose `field` its newly paid orders
/// took `taken` of (`why` says so) between the readings `(before, after)`: the API shows
/// what Redis holds, and the field fell by exactly `taken`.
fn sampled(
    who: &str,
    field: &str,
    (b, a): (&Reading, &Reading),
    taken: i128,
    why: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    if Some(a.api) != a.redis {
        out.push(format!(
            "{who}: API {field} {}, Redis {}",
            a.api,
            shown(a.redis)
        ));
    }
    if a.api + taken != b.api {
        out.push(format!(
            "{who}: {field} went {} -> {} but {why}",
            b.api, a.api
        ));
    }
    out
}

fn shown(v: Option<i128>) -> String {
    v.map_or_else(|| "(none)".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(v: i128) -> Reading {
        Reading {
            api: v,
            redis: Some(v),
        }
    }

    fn snap(credit: i128, stock: i128, paid: i128, user: i128, item: i128) -> Snapshot {
        Snapshot {
            credit,
            stock,
            orders: Orders {
                paid,
                cost: 2 * paid,
                units: 2 * paid,
                busy: 0,
                user_cost: vec![0],
                item_units: vec![0],
            },
            users: vec![reading(user)],
            items: vec![reading(item)],
        }
    }

    fn sample() -> Sample {
        Sample {
            users: vec![7],
            items: vec![9],
        }
    }

    #[test]
    fn paid_orders_that_account_for_every_unit_and_coin_break_nothing() {
        let before = snap(1000, 500, 0, 10, 5);
        let after = snap(980, 480, 10, 10, 5);
        assert!(problems(&sample(), &before, &after).is_empty());
        assert_eq!(
            change(&before, &after),
            Change {
                paid: 10,
                cost: 20,
                units: 20
            }
        );
    }

    #[test]
    fn a_coin_or_a_unit_out_of_place_is_reported() {
        let before = snap(1000, 500, 0, 10, 5);
        let mut after = snap(981, 480, 10, 10, 5);
        after.orders.busy = 2;
        after.items[0] = Reading {
            api: 4,
            redis: Some(5),
        };
        after.users[0].redis = None;
        let p = problems(&sample(), &before, &after);
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(p[0].starts_with("2 orders still marked busy"));
        assert!(p[1].starts_with("money: credit after 981"));
        assert!(p[2] == "user 7: API credit 10, Redis (none)");
        assert!(p[3] == "item 9: API stock 4, Redis 5");
        assert!(p[4] == "item 9: stock went 5 -> 4 but newly paid orders hold 0 units");
    }

    #[test]
    fn the_order_sums_are_read_by_position() {
        let o = orders_of(&[9, 4, 8, 8, 0, 2, 6], 1).unwrap();
        assert_eq!((o.paid, o.cost, o.busy), (4, 8, 0));
        assert_eq!((o.user_cost, o.item_units), (vec![2], vec![6]));
        assert!(orders_of(&[9, 4, 8, 8, 0], 1).is_err());
        assert_eq!(second(&[3, 42]).unwrap(), 42);
    }
}
