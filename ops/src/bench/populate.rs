//! The populate step (`ops bench populate`, and the first step of `ops bench run`): the
//! three batch_init calls through the gateway, with progress.

use super::error::Result;
use super::gateway::{base_url, Gateway};
use crate::stack::Stack;
use std::time::{Duration, Instant};

/// What populate creates (the course's defaults).
#[derive(clap::Args, Debug, Clone)]
pub struct Population {
    /// Items "0".."N-1".
    #[arg(long, env = "BENCH_ITEMS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub items: u64,
    /// Users "0".."N-1".
    #[arg(long, env = "BENCH_USERS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub users: u64,
    /// Orders "0".."N-1", two random items each (quantity 1) and a random user.
    #[arg(long, env = "BENCH_ORDERS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub orders: u64,
    /// Every item's stock.
    #[arg(long, env = "BENCH_STOCK", default_value_t = 1_000_000)]
    pub stock: u64,
    /// Every user's credit.
    #[arg(long, env = "BENCH_CREDIT", default_value_t = 1_000_000)]
    pub credit: u64,
    /// Every item's price.
    #[arg(long, default_value_t = 1)]
    pub price: u64,
}

/// `ops bench populate [GATEWAY]`
#[derive(clap::Args, Debug)]
pub struct PopulateArgs {
    /// The gateway (default: http://127.0.0.1:8000 + PORT_OFFSET).
    #[arg(env = "GATEWAY")]
    gateway: Option<String>,
    #[command(flatten)]
    population: Population,
    /// Bound on each batch_init call, in seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

impl PopulateArgs {
    pub async fn run(self, stack: &Stack) -> Result<()> {
        let port_offset = match stack {
            Stack::Local(l) => l.port_offset,
            _ => 0,
        };
        let gateway = Gateway::new(base_url(self.gateway.as_deref(), port_offset))?;
        let bound = Duration::from_secs(self.timeout);
        populate(&gateway, &self.population, bound).await
    }
}

/// The three batch_init calls, each answered 2xx within `bound`.
pub async fn populate(gateway: &Gateway, p: &Population, bound: Duration) -> Result<()> {
    let steps = [
        (
            format!("{} items, stock {}, price {}", p.items, p.stock, p.price),
            format!("/stock/batch_init/{}/{}/{}", p.items, p.stock, p.price),
        ),
        (
            format!("{} users, credit {}", p.users, p.credit),
            format!("/payment/batch_init/{}/{}", p.users, p.credit),
        ),
        (
            format!("{} orders of 2 random items", p.orders),
            orders_batch_init(p, p.orders),
        ),
    ];
    let start = Instant::now();
    for (i, (what, path)) in steps.iter().enumerate() {
        eprintln!("[populate {}/{}] {what} ...", i + 1, steps.len());
        let t = Instant::now();
        gateway.post(path, bound).await?;
        eprintln!("[populate {}/{}] ok in {:.1}s", i + 1, steps.len(), secs(t));
    }
    eprintln!("[populate] done in {:.1}s", secs(start));
    Ok(())
}

/// The batch_init of `n` orders over the population's items and users.
pub fn orders_batch_init(p: &Population, n: u64) -> String {
    format!("/orders/batch_init/{n}/{}/{}/{}", p.items, p.users, p.price)
}

pub fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}
