use super::*;
use crate::api::Answer;
use crate::phase::Phase;

fn created(phase: Phase, request: &str, field: &str, id: &str) -> Exchange {
    Exchange {
        phase,
        request: request.into(),
        answer: Answer::Status {
            code: 201,
            body: format!(r#"{{"{field}":"{id}"}}"#),
        },
        repeat: None,
    }
}

fn write(phase: Phase, request: String) -> Exchange {
    Exchange {
        phase,
        request,
        answer: Answer::status(200),
        repeat: None,
    }
}

fn checkout(order: &str, code: u16) -> Exchange {
    Exchange {
        phase: Phase::Checkout,
        request: format!("POST /orders/checkout/{order}"),
        answer: Answer::status(code),
        repeat: None,
    }
}

/// A consistent world: one item with `stock`, `n` users with 1 credit and one order each;
/// the first `min(stock, n)` orders answered 200 and are paid, the rest answered 400. Every
/// set-up write is in `exchanges` and answered 2xx.
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
    let ex = &mut obs.exchanges;
    ex.push(created(
        Phase::CreateItems,
        "POST /stock/item/create/1",
        "item_id",
        "item",
    ));
    ex.push(write(
        Phase::AddStock,
        format!("POST /stock/add/item/{stock}"),
    ));
    for i in 0..n {
        let request = "POST /payment/create_user";
        ex.push(created(
            Phase::CreateUsers,
            request,
            "user_id",
            &format!("u{i}"),
        ));
        ex.push(write(
            Phase::AddFunds,
            format!("POST /payment/add_funds/u{i}/1"),
        ));
        let request = format!("POST /orders/create/u{i}");
        ex.push(created(
            Phase::CreateOrders,
            &request,
            "order_id",
            &format!("o{i}"),
        ));
        ex.push(write(
            Phase::AddItems,
            format!("POST /orders/addItem/o{i}/item/1"),
        ));
    }
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
            checkout: checkout(&format!("o{i}"), if paid { 200 } else { 400 }),
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

/// The set-up exchange whose request starts with `prefix`.
fn exchange<'a>(obs: &'a mut Observation, prefix: &str) -> &'a mut Exchange {
    obs.exchanges
        .iter_mut()
        .find(|e| e.request.starts_with(prefix))
        .unwrap()
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
fn a_lost_add_item_fails_the_order_lines_check() {
    // The addItem answered (or was acked) but no line is there; the empty order's checkout
    // "succeeded" charging nothing.
    let mut obs = consistent(100, 5);
    let view = obs.orders[0].found.as_mut().unwrap();
    view.items.clear();
    view.total_cost = 0;
    obs.items[0].final_stock = Some(96);
    obs.users[0].final_credit = Some(1);
    assert_eq!(
        failed(&obs),
        vec!["each order holds exactly the lines added"]
    );
}

#[test]
fn a_lost_add_item_in_the_course_scenario_also_sells_one_too_many() {
    // Issue 17's "106 checkouts answered 200, 100 units sold", with one order.
    let mut obs = consistent(100, 1000);
    let order = &mut obs.orders[500];
    order.checkout.answer = Answer::status(200);
    let view = order.found.as_mut().unwrap();
    (view.paid, view.total_cost) = (true, 0);
    view.items.clear();
    order.sagas = Some(vec!["committed".into()]);
    assert_eq!(
        failed(&obs),
        vec![
            "exact number of successes",
            "each order holds exactly the lines added"
        ]
    );
}

#[test]
fn a_doubled_add_stock_fails_the_stock_check() {
    let mut obs = consistent(100, 5);
    obs.items[0].final_stock = Some(195);
    assert_eq!(failed(&obs), vec!["stock == added - units in paid orders"]);
}

#[test]
fn a_doubled_add_funds_fails_the_credit_checks() {
    let mut obs = consistent(2, 5);
    obs.users[4].final_credit = Some(2);
    assert_eq!(
        failed(&obs),
        vec!["credit conserved", "credit == funds added - paid orders"]
    );
}

#[test]
fn a_5xx_in_set_up_fails_the_5xx_check_even_when_the_write_was_applied() {
    let mut obs = consistent(2, 5);
    exchange(&mut obs, "POST /payment/add_funds/u3/").answer = Answer::status(502);
    assert_eq!(failed(&obs), vec!["no request answered 5xx"]);
}

#[test]
fn a_connection_error_fails_the_answered_check_even_when_the_write_was_applied() {
    let mut obs = consistent(2, 5);
    exchange(&mut obs, "POST /stock/add/").answer = Answer::NoAnswer("connection reset".into());
    assert_eq!(
        failed(&obs),
        vec!["every request answered (no conn error/timeout)"]
    );
}

#[test]
fn a_doubled_create_fails_the_one_entity_check() {
    let mut obs = consistent(2, 5);
    let create = exchange(&mut obs, "POST /orders/create/u1");
    create.repeat = Some(Answer::Status {
        code: 201,
        body: r#"{"order_id":"o1-again"}"#.into(),
    });
    assert_eq!(failed(&obs), vec!["one distinct entity per create"]);
}

#[test]
fn two_creates_answering_one_id_fail_the_one_entity_check() {
    let mut obs = consistent(2, 5);
    let second = obs
        .exchanges
        .iter_mut()
        .filter(|e| e.phase == Phase::CreateUsers)
        .nth(1)
        .unwrap();
    second.answer = Answer::Status {
        code: 201,
        body: r#"{"user_id":"u0"}"#.into(),
    };
    assert_eq!(failed(&obs), vec!["one distinct entity per create"]);
}

#[test]
fn a_create_without_an_id_fails_the_one_entity_check() {
    let mut obs = consistent(2, 5);
    exchange(&mut obs, "POST /stock/item/create/").answer = Answer::Status {
        code: 200,
        body: "{}".into(),
    };
    assert_eq!(failed(&obs), vec!["one distinct entity per create"]);
}

#[test]
fn a_refused_set_up_write_fails_the_set_up_check() {
    let mut obs = consistent(2, 5);
    exchange(&mut obs, "POST /orders/addItem/o2/").answer = Answer::status(404);
    assert_eq!(failed(&obs), vec!["every set-up write answered 2xx"]);
}

#[test]
fn a_refused_read_fails_the_read_check() {
    let mut obs = consistent(2, 5);
    obs.exchanges.push(Exchange {
        phase: Phase::Verify,
        request: "GET /payment/find_user/u1".into(),
        answer: Answer::status(404),
        repeat: None,
    });
    assert_eq!(failed(&obs), vec!["every read answered 2xx"]);
}

#[test]
fn a_keyed_repeat_with_another_answer_is_caught() {
    let mut obs = consistent(2, 5);
    exchange(&mut obs, "POST /stock/add/").repeat = Some(Answer::status(400));
    assert_eq!(failed(&obs), vec!["keyed repeats answered as the first"]);
    // A repeat that answers the same passes; one that got a 5xx is judged as a 5xx.
    exchange(&mut obs, "POST /stock/add/").repeat = Some(Answer::status(200));
    assert!(failed(&obs).is_empty());
    obs.orders[0].checkout.repeat = Some(Answer::status(503));
    assert_eq!(failed(&obs), vec!["no request answered 5xx"]);
}

#[test]
fn a_read_under_chaos_that_disagrees_with_the_settled_read_is_caught() {
    let mut obs = consistent(2, 5);
    obs.under_chaos = Some(Snapshot {
        stock: vec![Some(0)],
        credit: obs.users.iter().map(|u| u.final_credit).collect(),
        orders: obs.orders.iter().map(|o| o.found.clone()).collect(),
    });
    assert!(failed(&obs).is_empty());
    obs.under_chaos.as_mut().unwrap().credit[3] = Some(0);
    assert_eq!(failed(&obs), vec!["reads under chaos == settled reads"]);
}

#[test]
fn a_double_charge_is_caught() {
    let mut obs = consistent(2, 5);
    obs.users[0].final_credit = Some(-1);
    let f = failed(&obs);
    assert!(f.contains(&"credit conserved"));
    assert!(f.contains(&"credit == funds added - paid orders"));
}

#[test]
fn a_paid_order_answered_4xx_is_caught() {
    let mut obs = consistent(2, 5);
    obs.orders[0].checkout.answer = Answer::status(409);
    let f = failed(&obs);
    assert!(f.contains(&"successful answers == paid orders"));
    assert!(f.contains(&"exact number of successes"));
}

#[test]
fn a_checkout_5xx_counts_as_success_but_is_reported() {
    let mut obs = consistent(2, 5);
    obs.orders[0].checkout.answer = Answer::status(503);
    assert_eq!(failed(&obs), vec!["no request answered 5xx"]);
}

#[test]
fn an_unanswered_checkout_is_a_discrepancy() {
    let mut obs = consistent(2, 5);
    obs.orders[4].checkout.answer = Answer::NoAnswer("timed out".into());
    assert_eq!(
        failed(&obs),
        vec!["every request answered (no conn error/timeout)"]
    );
}

#[test]
fn oversold_stock_is_caught() {
    let mut obs = consistent(2, 5);
    obs.items[0].final_stock = Some(-1);
    obs.orders[2].checkout.answer = Answer::status(200);
    if let Some(view) = obs.orders[2].found.as_mut() {
        view.paid = true;
    }
    obs.users[2].final_credit = Some(0);
    let f = failed(&obs);
    assert!(f.contains(&"stock == added - units in paid orders"));
    assert!(f.contains(&"exact number of successes"));
}

#[test]
fn stock_lost_without_a_payment_is_caught() {
    let mut obs = consistent(3, 2);
    obs.items[0].final_stock = Some(0);
    assert_eq!(failed(&obs), vec!["stock == added - units in paid orders"]);
}

#[test]
fn an_unreadable_order_is_caught() {
    let mut obs = consistent(2, 5);
    obs.orders[3].found = None;
    assert!(failed(&obs).contains(&"every created entity exists afterwards"));
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
    assert_eq!(failed(&obs), vec!["every created entity exists afterwards"]);
}

#[test]
fn only_state_checks_are_worth_a_re_read() {
    let checks = verify(&consistent(2, 5));
    let kind = |name: &str| checks.iter().find(|c| c.name == name).unwrap().kind;
    assert_eq!(kind("no request answered 5xx"), Kind::Answers);
    assert_eq!(kind("credit conserved"), Kind::State);
}
