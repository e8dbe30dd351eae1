//! `ops bench`: the closed-loop checkout benchmark of the local stack, its populate step,
//! and the Redis setting that `stress-test/ab.sh` experiments with.
//!
//! - [`run`]: the steps of a run (populate, ceilings, fresh and random checkouts per
//!   connection count, the invariants, the table), configured by [`args`];
//! - [`measure`]: the ceilings and the runs per connection count;
//! - [`wrk`] and [`ceiling`]: the load generator and the ceiling nginx, child processes;
//! - [`sums`] and [`invariants`]: exact sums on every master and a sample through the API,
//!   taken before and after the runs and compared;
//! - [`machine`]: CPU time and memory from `/proc`; [`profile`]: `BENCH_PROFILE`;
//! - [`table`]: the report written to `BENCH_OUT`.
//!
//! Nodes and roles come only from [`crate::cluster`] and [`crate::stack`]; the stack's data
//! changes only through the public API (populate, checkouts). It never judges speed: the
//! numbers are reported, never compared with a threshold.

mod args;
mod ceiling;
mod error;
mod gateway;
mod invariants;
mod machine;
mod measure;
mod populate;
mod profile;
mod run;
mod sums;
mod table;
mod wrk;

pub use error::{Error, Result};

use crate::cluster::{self, rules::Role};
use crate::stack::{Stack, SERVICES};

/// `ops bench ...`
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// The benchmark against the running local stack: populate, the ceilings, fresh and
    /// random checkouts per connection count, the invariants, the table (BENCH_OUT). Fails
    /// when an invariant broke or a checkout answered 5xx.
    Run(Box<args::RunArgs>),
    /// The three batch_init calls through the gateway, with progress (the stress test's
    /// populate step).
    Populate(populate::PopulateArgs),
    /// CONFIG SET PARAM VALUE on every node of every cluster that is in ROLE now: an
    /// experiment, not a setting of the stack (e.g. `replica appendfsync everysec`).
    RedisConfig {
        role: Role,
        param: String,
        value: String,
    },
}

impl Command {
    pub async fn run(self, stack: &Stack) -> Result<()> {
        match self {
            Command::Run(args) => run::run(stack, *args).await,
            Command::Populate(args) => args.run(stack).await,
            Command::RedisConfig { role, param, value } => {
                redis_config(stack, role, &param, &value).await
            }
        }
    }
}

async fn redis_config(stack: &Stack, role: Role, param: &str, value: &str) -> Result<()> {
    let mut changed = 0;
    for svc in SERVICES {
        let cluster = stack.cluster(svc).await?;
        for node in cluster::in_role(&cluster, role).await {
            node.query(&["CONFIG", "SET", param, value]).await?;
            changed += 1;
        }
    }
    eprintln!("[bench] {param} {value} on {changed} nodes in role {role}");
    Ok(())
}
