//! The gateway-wait probe: a restart of every replica of a service is a pause for the
//! requests in flight, not a 502. Both stock replicas are killed, a read is sent, and one
//! replica is started a second later: the gateway's retry passes (env/nginx/routes.conf)
//! must hold the request until it is back, and it must answer 200.
//!
//! Either back end; the replicas are started again at the end whatever happened.

use super::client::Gateway;
use super::tally::Tally;
use crate::fault::{self, Action};
use crate::stack::Stack;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The request's own bound: far above the gateway's retry passes.
const REQUEST_BOUND: Duration = Duration::from_secs(60);

pub async fn run(gateway: Gateway, stack: &Stack) -> Result<ExitCode> {
    let mut tally = Tally::default();
    let created = gateway
        .post("/stock/item/create/4", Duration::from_secs(60))
        .await;
    let item = created
        .field("item_id")
        .with_context(|| format!("item create answered {created}"))?;
    println!(
        "gateway-wait: killing stock-1 and stock-2, a request in flight, stock-1 started 1 s later"
    );
    for replica in ["stock-1", "stock-2"] {
        fault::act(stack, Action::Kill, replica).await?;
    }
    let start = Instant::now();
    let request = {
        let (gateway, path) = (gateway.clone(), format!("/stock/find/{item}"));
        tokio::spawn(async move { gateway.get(&path, REQUEST_BOUND).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = fault::act(stack, Action::Start, "stock-1").await;
    let answer = request.await?;
    let took = start.elapsed().as_secs_f64();
    let restored = fault::act(stack, Action::Start, "stock-2").await;
    started?;
    restored?;
    tally.check(
        answer.code() == 200 && answer.body()["price"] == 4,
        format!("the request in flight waited {took:.1} s for stock-1 and answered {answer} (expected 200)"),
    );
    Ok(tally.summary())
}
