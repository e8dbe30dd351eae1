use super::*;
use crate::api::CheckoutAnswer::{Status, Unknown};

/// A consistent world: one item with `stock`, `n` users with 1 credit and one order each;
/// the first `min(stock, n)` orders answered 200 and are paid, the rest answered 400.
fn consistent(stock: i64, n: usize) -> Observation {
    let sold = usize::try_from(stock).unwrap().min(n);
    let item = ItemFixture {
        id: "item".into(),
        stock,
        price: 1,
    };
    let mut obs = Observation {
        items: vec![ItemObs {
            fixture: item,
            final_stock: Some(stock - sold as i64),
        }],
        ..Observation::default()
    };
    for i in 0..n {
        let paid = i < sold;
        let user = format!("u{i}");
        obs.users.push(UserObs {
            id: user.clone(),
            initial_credit: 1,
            final_credit: Some(if paid { 0 } else { 1 }),
        });
        obs.orders.push(OrderObs {
            fixture: OrderFixture {
                id: format!("o{i}"),
                user_id: user.clone(),
                item_id: "item".into(),
                quantity: 1,
            },
            answer: Status(if paid { 200 } else { 400 }),
            found: Some(OrderView {
                order_id: format!("o{i}"),
                paid,
                items: vec![("item".into(), 1)],
                user_id: user,
                total_cost: 1,
            }),
            sagas: Some(if paid {
                vec!["committed".into()]
            } else {
                vec!["aborted".into()]
            }),
        });
    }
    obs
}

fn failed(obs: &Observation) -> Vec<&'static str> {
    verify(obs)
        .into_iter()
        .filter(|c| !c.passed())
        .map(|c| c.name)
        .collect()
}

#[test]
fn the_course_scenario_done_right_passes_every_check() {
    let obs = consistent(100, 1000);
    assert_eq!(expected_successes(&obs), 100);
    assert_eq!(failed(&obs), Vec::<&str>::new());
}

#[test]
fn more_stock_than_demand_sells_every_order() {
    let obs = consistent(10, 4);
    assert_eq!(expected_successes(&obs), 4);
    assert!(failed(&obs).is_empty());
}

#[test]
fn a_double_charge_is_caught() {
    let mut obs = consistent(2, 5);
    obs.users[0].final_credit = Some(-1);
    let f = failed(&obs);
    assert!(f.contains(&"credit conserved"));
    assert!(f.contains(&"each user charged exactly its paid orders"));
}

#[test]
fn a_paid_order_answered_4xx_is_caught() {
    let mut obs = consistent(2, 5);
    obs.orders[0].answer = Status(409);
    let f = failed(&obs);
    assert!(f.contains(&"successful answers == paid orders"));
    assert!(f.contains(&"exact number of successes"));
}

#[test]
fn a_5xx_counts_as_success_but_is_reported() {
    let mut obs = consistent(2, 5);
    obs.orders[0].answer = Status(503);
    assert_eq!(failed(&obs), vec!["no checkout answered 5xx"]);
}

#[test]
fn an_unknown_answer_is_a_discrepancy() {
    let mut obs = consistent(2, 5);
    obs.orders[4].answer = Unknown("timed out".into());
    assert_eq!(failed(&obs), vec!["every checkout answered"]);
}

#[test]
fn oversold_stock_is_caught() {
    let mut obs = consistent(2, 5);
    obs.items[0].final_stock = Some(-1);
    obs.orders[2].answer = Status(200);
    if let Some(view) = obs.orders[2].found.as_mut() {
        view.paid = true;
    }
    obs.users[2].final_credit = Some(0);
    let f = failed(&obs);
    assert!(f.contains(&"stock taken == units in paid orders"));
    assert!(f.contains(&"exact number of successes"));
}

#[test]
fn stock_lost_without_a_payment_is_caught() {
    let mut obs = consistent(3, 2);
    obs.items[0].final_stock = Some(0);
    assert_eq!(failed(&obs), vec!["stock taken == units in paid orders"]);
}

#[test]
fn an_unreadable_order_is_caught() {
    let mut obs = consistent(2, 5);
    obs.orders[3].found = None;
    assert!(failed(&obs).contains(&"everything readable afterwards"));
}

#[test]
fn an_unfinished_saga_is_caught() {
    let mut obs = consistent(2, 5);
    obs.orders[4].sagas = Some(vec!["aborted".into(), "compensating".into()]);
    assert_eq!(
        failed(&obs),
        vec!["every saga finished, one committed per paid order"]
    );
}

#[test]
fn a_paid_order_without_a_committed_saga_is_caught() {
    let mut obs = consistent(2, 5);
    obs.orders[0].sagas = Some(vec!["aborted".into()]);
    assert_eq!(
        failed(&obs),
        vec!["every saga finished, one committed per paid order"]
    );
    obs.orders[0].sagas = Some(vec!["committed".into(), "committed".into()]);
    assert_eq!(
        failed(&obs),
        vec!["every saga finished, one committed per paid order"]
    );
}

#[test]
fn unreadable_sagas_are_caught() {
    let mut obs = consistent(2, 5);
    obs.orders[1].sagas = None;
    assert_eq!(failed(&obs), vec!["everything readable afterwards"]);
}
