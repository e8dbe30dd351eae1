//! Probes of a running stack, each a test with a verdict: one `PASS`/`FAIL` line per check,
//! then `N passed, M failed`; exit 0 when all passed, 1 when a check failed, 2 when the
//! stack under test is not there (its gateway does not answer).
//!
//! - `e2e`: the public API's flow and errors through the gateway (either back end);
//! - `crash`: every kind of write with the replica that applies it aborting before it
//!   answers (the local stack only: it restarts replicas with `CRASH_AFTER_WRITES`);
//! - `durability`: no acknowledged write is lost when the Redis node holding it is killed
//!   (either back end);
//! - `gateway-wait`: with every replica of a service down, a request in flight waits for
//!   one to come back instead of failing (either back end).
//!
//! Every fault and every cluster rule comes from `crate::fault` and `crate::cluster`; a
//! probe never signals a process or reads a cluster by itself.

pub mod client;
mod crash;
mod durability;
mod e2e;
mod gateway_wait;
mod nodes;
mod tally;

use crate::stack::Stack;
use client::Gateway;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The stack's gateway (default: $GATEWAY, else http://127.0.0.1:8000 + $PORT_OFFSET).
    #[arg(long, global = true)]
    gateway: Option<String>,
    #[command(subcommand)]
    probe: Probe,
}

#[derive(Debug, clap::Subcommand)]
enum Probe {
    /// The course's flow through the gateway: stock, payment, orders, bad input, the
    /// paths the gateway must not route.
    E2e,
    /// Every kind of public write, with the replica that applies it aborting before it
    /// answers: applied exactly once, answered 2xx (local stack).
    Crash,
    /// No acknowledged write lost when the Redis master holding it (then a replica) is
    /// SIGKILLed, at the Redis level and through the gateway.
    Durability(durability::DurabilityArgs),
    /// With both stock replicas killed and one started a second later, a request in
    /// flight waits for it (the gateway's retry passes) and answers 200.
    GatewayWait,
}

impl ProbeArgs {
    /// Runs the probe against `stack`; the exit code is its verdict.
    pub async fn run(self, stack: &Stack) -> anyhow::Result<ExitCode> {
        let url = self.gateway.unwrap_or_else(client::default_gateway);
        let gateway = Gateway::new(&url)?;
        if !gateway.answers().await {
            eprintln!("the gateway at {url} does not answer (is the stack up?)");
            return Ok(ExitCode::from(2));
        }
        match self.probe {
            Probe::E2e => e2e::run(gateway).await,
            Probe::Crash => crash::run(gateway, stack).await,
            Probe::Durability(args) => durability::run(gateway, stack, &args).await,
            Probe::GatewayWait => gateway_wait::run(gateway, stack).await,
        }
    }
}
