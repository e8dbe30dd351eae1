//! The crash probe: every kind of public write, with the replica that applies it aborting
//! after the write took effect and before it answered.
//!
//! For each kind of write, both replicas of the service that serves it are restarted with
//! `CRASH_AFTER_WRITES=1` (common/src/fault.rs): whichever gets the request applies it and
//! aborts before answering, as a process killed at that moment would. The gateway retries
//! the request on the other replica with the same idempotency key (its request id); that
//! replica finds the write's record and answers without applying it again, so it does not
//! crash. Checked: the client got a 2xx, exactly one replica died, and (read back through
//! the gateway and, for the creates, by counting keys on the service's masters) the write
//! took effect exactly once. Then the replicas are restarted as they were.
//!
//! The local stack only: it needs two replicas of each service, started with an
//! environment of its own.

use super::client::{Answer, Gateway};
use super::nodes;
use super::tally::Tally;
use crate::cluster::rules::Role;
use crate::fault::{self, Action};
use crate::stack::{local::Local, Stack};
use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);
const SERVICES: [&str; 3] = ["stock", "payment", "order"];

struct Run<'a> {
    gateway: Gateway,
    stack: &'a Stack,
    local: &'a Local,
    tally: Tally,
}

fn replicas(service: &str) -> [String; 2] {
    [format!("{service}-1"), format!("{service}-2")]
}

impl Run<'_> {
    async fn call(&self, method: Method, path: &str) -> Answer {
        self.gateway.call(method, path, None, TIMEOUT).await
    }

    async fn read(&self, path: &str) -> Value {
        self.call(Method::GET, path).await.body().clone()
    }

    async fn stock_of(&self, item: &str) -> Value {
        self.read(&format!("/stock/find/{item}")).await["stock"].clone()
    }

    async fn credit_of(&self, user: &str) -> Value {
        self.read(&format!("/payment/find_user/{user}")).await["credit"].clone()
    }

    /// Sends one write with both replicas of `service` armed to abort after it; checks a
    /// 2xx and exactly one dead replica, restarts both, and returns the answer.
    async fn crash_write(
        &mut self,
        service: &str,
        method: Method,
        path: &str,
        what: &str,
    ) -> Result<Answer> {
        for replica in replicas(service) {
            fault::act(self.stack, Action::Kill, &replica).await?;
            fault::local::start_with(self.local, &replica, &[("CRASH_AFTER_WRITES", "1")]).await?;
        }
        let start = Instant::now();
        let answer = self.call(method, path).await;
        let took = start.elapsed().as_secs_f64();
        let dead: Vec<String> = replicas(service)
            .into_iter()
            .filter(|r| self.local.running_pid(r).is_none())
            .collect();
        self.tally.check(
            answer.is_2xx(),
            format!("{what}: answered {answer} ({took:.2} s)"),
        );
        self.tally.check(
            dead.len() == 1,
            format!("{what}: exactly one {service} replica died after applying it ({dead:?})"),
        );
        // As they were: the survivor too, which is still armed.
        for replica in replicas(service) {
            if self.local.running_pid(&replica).is_some() {
                fault::act(self.stack, Action::Kill, &replica).await?;
            }
            fault::act(self.stack, Action::Start, &replica).await?;
        }
        Ok(answer)
    }

    /// A create sent as [`crash_write`](Self::crash_write): the id in `field` of what it
    /// created, after checking (as `one_more`) that the keys of `service` matching `keys`
    /// grew by exactly one.
    async fn crash_create(
        &mut self,
        service: &str,
        path: &str,
        what: &str,
        (field, keys): (&str, &str),
        one_more: &str,
    ) -> Result<String> {
        let before = self.count_keys(service, keys).await?;
        let created = self.crash_write(service, Method::POST, path, what).await?;
        let id = created
            .field(field)
            .with_context(|| format!("{what} answered no {field}"))?;
        let now = self.count_keys(service, keys).await?;
        self.tally.check(now == before + 1, one_more);
        Ok(id)
    }

    /// Keys of `service`'s cluster matching `pattern`: every key is on exactly one of its
    /// masters.
    async fn count_keys(&self, service: &str, pattern: &str) -> Result<usize> {
        let masters = nodes::in_role(self.stack, service, Role::Master).await?;
        if masters.is_empty() {
            bail!("no master of the {service} cluster answers");
        }
        let mut count = 0;
        for master in masters {
            let keys = master.query(&["KEYS", pattern]).await?;
            count += keys.lines().filter(|k| !k.is_empty()).count();
        }
        Ok(count)
    }
}

pub async fn run(gateway: Gateway, stack: &Stack) -> Result<ExitCode> {
    let Stack::Local(local) = stack else {
        eprintln!("the crash probe needs the local stack (it starts replicas with an environment of its own)");
        return Ok(ExitCode::from(2));
    };
    for service in SERVICES {
        for replica in replicas(service) {
            if local.running_pid(&replica).is_none() {
                eprintln!("{replica} is not running: the crash test needs two replicas of each");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let mut run = Run {
        gateway,
        stack,
        local,
        tally: Tally::default(),
    };
    let item = stock(&mut run).await?;
    let user = payment(&mut run).await?;
    orders(&mut run, &item, &user).await?;
    Ok(run.tally.summary())
}

/// Returns the item it created (price 3, stock 6).
async fn stock(run: &mut Run<'_>) -> Result<String> {
    let create = "/stock/item/create/3";
    let one_more = "stock create: one item more, not two";
    let item = run
        .crash_create(
            "stock",
            create,
            "stock create",
            ("item_id", "item:*"),
            one_more,
        )
        .await?;
    let found = run.read(&format!("/stock/find/{item}")).await;
    run.tally.check(
        found == json!({"stock": 0, "price": 3}),
        "stock create: the answered id is the item",
    );
    let add = format!("/stock/add/{item}/10");
    run.crash_write("stock", Method::POST, &add, "stock add")
        .await?;
    let stock = run.stock_of(&item).await;
    run.tally.check(stock == 10, "stock add: applied once");
    let subtract = format!("/stock/subtract/{item}/4");
    run.crash_write("stock", Method::POST, &subtract, "stock subtract")
        .await?;
    let stock = run.stock_of(&item).await;
    run.tally.check(stock == 6, "stock subtract: applied once");
    run.crash_write(
        "stock",
        Method::POST,
        "/stock/batch_init/5/7/2",
        "stock batch_init",
    )
    .await?;
    let found = run.read("/stock/find/4").await;
    run.tally.check(
        found == json!({"stock": 7, "price": 2}),
        "stock batch_init: applied",
    );
    Ok(item)
}

/// Returns the user it created (credit 15).
async fn payment(run: &mut Run<'_>) -> Result<String> {
    let (create, what) = ("/payment/create_user", "payment create_user");
    let one_more = "payment create_user: one user more";
    let user = run
        .crash_create("payment", create, what, ("user_id", "user:*"), one_more)
        .await?;
    let add = format!("/payment/add_funds/{user}/20");
    run.crash_write("payment", Method::POST, &add, "payment add_funds")
        .await?;
    let credit = run.credit_of(&user).await;
    run.tally
        .check(credit == 20, "payment add_funds: applied once");
    let pay = format!("/payment/pay/{user}/5");
    run.crash_write("payment", Method::POST, &pay, "payment pay")
        .await?;
    let credit = run.credit_of(&user).await;
    run.tally.check(credit == 15, "payment pay: applied once");
    run.crash_write(
        "payment",
        Method::POST,
        "/payment/batch_init/5/9",
        "payment batch_init",
    )
    .await?;
    let credit = run.credit_of("4").await;
    run.tally.check(credit == 9, "payment batch_init: applied");
    Ok(user)
}

async fn orders(run: &mut Run<'_>, item: &str, user: &str) -> Result<()> {
    // Orders, not their saga lists (`order:<id>:sagas`).
    let keys = "order:*[^s]";
    let create = format!("/orders/create/{user}");
    let one_more = "order create: one order more";
    let order = run
        .crash_create(
            "order",
            &create,
            "order create",
            ("order_id", keys),
            one_more,
        )
        .await?;

    let add = format!("/orders/addItem/{order}/{item}/2");
    run.crash_write("order", Method::POST, &add, "order addItem")
        .await?;
    let found = run.read(&format!("/orders/find/{order}")).await;
    let one_line = found["items"] == json!([[item, 2]]) && found["total_cost"] == 6;
    run.tally
        .check(one_line, format!("order addItem: one line ({found})"));

    run.call(Method::POST, &format!("/orders/addItem/{order}/4/1"))
        .await;
    let remove = format!("/orders/removeItem/{order}/4");
    run.crash_write("order", Method::DELETE, &remove, "order removeItem")
        .await?;
    let found = run.read(&format!("/orders/find/{order}")).await;
    let one_line = found["items"] == json!([[item, 2]]) && found["total_cost"] == 6;
    run.tally.check(
        one_line,
        format!("order removeItem: applied once ({found})"),
    );

    let checkout = format!("/orders/checkout/{order}");
    run.crash_write("order", Method::POST, &checkout, "order checkout")
        .await?;
    let found = run.read(&format!("/orders/find/{order}")).await;
    let (credit, stock) = (run.credit_of(user).await, run.stock_of(item).await);
    run.tally.check(
        found["paid"] == true && credit == 9 && stock == 4,
        format!("order checkout: charged and taken once (credit {credit}, stock {stock})"),
    );

    run.crash_write(
        "order",
        Method::POST,
        "/orders/batch_init/5/5/5/1",
        "order batch_init",
    )
    .await?;
    let found = run.read("/orders/find/4").await;
    run.tally.check(
        found["total_cost"] == 2 && found["paid"] == false,
        "order batch_init: applied",
    );
    Ok(())
}
