//! The durability probe: no acknowledged write is lost when the Redis node that holds it
//! dies, on the local stack or a compose project alike.
//!
//! 1. Settings: every node of the three clusters runs in cluster mode with AOF and the
//!    expected `appendfsync`.
//! 2. "redis" (`redis.rs`): in each cluster a burst of INCRs, each acknowledged by a
//!    replica (WAIT 1), survives a SIGKILL of the master holding the key.
//! 3. The gateway passes (`gateway.rs`): keyed `POST /stock/add/<item>/1`,
//!    `POST /payment/add_funds/<user>/1` and `POST /orders/addItem/<order>/<item>/1` (the
//!    item costs 1) through the gateway, each sent again with its key until answered,
//!    while the shard owning the item's (the user's, the order's) slot meets a fault:
//!    "master" and "replica" SIGKILL its master or a replica; "pause" freezes its master
//!    (SIGSTOP, `docker pause`) for `--pause-secs`; "sequence" kills a replica before the
//!    writes, starts it again a third of the way in and kills the master at once, before
//!    the replica can have resynchronised; "sequence-pause" does the same with a pause in
//!    place of the master's kill; "partition" cuts the master off the network, its clients
//!    too, for `--partition-secs`, and "split" cuts it off the other nodes of its cluster
//!    only (`crate::fault`: iptables by cgroup locally, `docker network disconnect` and
//!    iptables in the container's namespace in compose; SKIP where a node has no cgroup of
//!    its own); "service-pause" freezes the service replica `<service>-1` for
//!    `--pause-secs` (pauses of 0.5, 4 and 10 s in turn). Each acknowledged write there
//!    exactly once, a repeat of a few keys changes nothing, the victims back in their whole
//!    cluster.
//!
//! Kills and starts are `crate::fault`'s, the master of a key and a node's role
//! `crate::cluster`'s.

mod gateway;
mod redis;
mod writes;

use super::client::Gateway;
use super::nodes;
use super::tally::Tally;
use crate::stack::Stack;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct DurabilityArgs {
    /// The parts to run, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "settings,redis,master,replica,pause,sequence,sequence-pause,partition,split,service-pause"
    )]
    passes: Vec<Pass>,
    /// Writes of each kind in a gateway pass.
    #[arg(long, env = "PER_PASS", default_value_t = 400)]
    per_pass: usize,
    /// Writes of each kind in flight at once in a gateway pass (each kind has its own
    /// writers).
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// One write is sent again with its key until answered, at most this long.
    #[arg(long, env = "RETRY_SECS", default_value_t = 30)]
    retry_secs: u64,
    /// The writes of a gateway pass are paced over this long, so that the kills come
    /// while they run.
    #[arg(long, env = "PASS_SECS", default_value_t = 6)]
    pass_secs: u64,
    /// How long the "pause", "sequence-pause" and "service-pause" passes freeze their
    /// victims: the three victims of a pass take these lengths in turn, each pass starting
    /// one further along, so that over the three passes every cluster meets every length
    /// (around the failover's node timeout, 0.5 s, a few seconds past it, and long after it).
    #[arg(
        long,
        env = "PAUSE_SECS",
        value_delimiter = ',',
        default_value = "0.5,4,10"
    )]
    pause_secs: Vec<f64>,
    /// How long the "partition" and "split" passes cut a master off.
    #[arg(long, env = "PARTITION_SECS", default_value_t = 8)]
    partition_secs: u64,
    /// INCRs (each with WAIT 1) in each cluster in the "redis" pass.
    #[arg(long, default_value_t = 300)]
    redis_writes: usize,
    /// The `appendfsync` every node must run with.
    #[arg(long, env = "REDIS_FSYNC", default_value = crate::cluster::rules::FSYNC)]
    fsync: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Pass {
    Settings,
    Redis,
    Master,
    Replica,
    Pause,
    Sequence,
    SequencePause,
    Partition,
    Split,
    ServicePause,
}

impl Pass {
    fn through_gateway(self) -> bool {
        !matches!(self, Pass::Settings | Pass::Redis)
    }
}

/// The clusters whose nodes are checked and killed.
const SERVICES: [&str; 3] = ["order", "stock", "payment"];

/// Progress lines, stamped with the time since the probe began.
struct Log(Instant);

impl Log {
    fn line(&self, message: &str) {
        println!(
            "[durability {:6.1}s] {message}",
            self.0.elapsed().as_secs_f64()
        );
    }
}

pub async fn run(
    gateway: Gateway,
    stack: &Stack,
    args: &DurabilityArgs,
) -> anyhow::Result<ExitCode> {
    let log = Log(Instant::now());
    let mut tally = Tally::default();
    for service in SERVICES {
        nodes::wait_whole(stack, service).await?;
    }
    log.line("clusters whole");
    let mut rows = Vec::new();
    let mut totals = gateway::Totals::default();
    // Created once the clusters are known to be whole, for both gateway passes.
    let through_gateway = args.passes.iter().any(|p| p.through_gateway());
    let entities = match through_gateway {
        true => Some(gateway::Entities::create(&gateway, stack, &log).await?),
        false => None,
    };
    // Asked of one node: every node of a stack is started alike.
    let cut_blocked = match args
        .passes
        .iter()
        .any(|p| matches!(p, Pass::Partition | Pass::Split))
    {
        true => crate::fault::cannot_cut(stack, "redis-stock-1").await,
        false => None,
    };
    for pass in &args.passes {
        match (pass, &entities) {
            (Pass::Settings, _) => redis::settings(stack, &args.fsync, &mut tally).await?,
            (Pass::Redis, _) => {
                for service in SERVICES {
                    redis::burst(stack, service, args.redis_writes, &log, &mut tally).await?;
                }
            }
            (_, None) => unreachable!("created above"),
            (Pass::Partition | Pass::Split, Some(_)) if cut_blocked.is_some() => {
                log.line(&format!(
                    "SKIP {pass:?}: the {} back end cannot cut a node off its cluster here: {}",
                    stack.backend(),
                    cut_blocked.as_deref().unwrap_or_default()
                ));
            }
            (kind, Some(entities)) => {
                let pass = gateway::Pass {
                    kind: *kind,
                    gateway: &gateway,
                    stack,
                    entities,
                    args,
                    log: &log,
                };
                rows.extend(pass.run(&mut totals, &mut tally).await?);
            }
        }
    }
    if !rows.is_empty() {
        gateway::print_table(&rows);
    }
    Ok(tally.summary())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: DurabilityArgs,
    }

    #[test]
    fn every_part_runs_by_default_and_a_list_picks_some() {
        let all = Cli::parse_from(["durability"]).args;
        let every = [
            Pass::Settings,
            Pass::Redis,
            Pass::Master,
            Pass::Replica,
            Pass::Pause,
            Pass::Sequence,
            Pass::SequencePause,
            Pass::Partition,
            Pass::Split,
            Pass::ServicePause,
        ];
        assert_eq!(all.passes, every);
        assert_eq!(all.pause_secs, [0.5, 4.0, 10.0]);
        let some = Cli::parse_from(["durability", "--passes", "replica,settings"]).args;
        assert_eq!(some.passes, [Pass::Replica, Pass::Settings]);
        assert!(Cli::try_parse_from(["durability", "--passes", "everything"]).is_err());
    }
}
