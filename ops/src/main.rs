//! `ops`: the command line of the operations library (see `lib.rs`). Each command group is
//! a module of the library with its own `clap` type; this file only parses and dispatches.
//!
//!   ops [--run-dir DIR | --docker PROJECT | --hosts SPEC] cluster|fault|probe|chaos-report|bench ...

use clap::{Parser, Subcommand};
use ops::{bench, chaos_report, cluster, fault, probe, stack};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "ops", about = "Runs, probes and breaks the stack", version)]
struct Cli {
    #[command(flatten)]
    stack: stack::Args,
    #[command(subcommand)]
    command: Command,
}

/// One variant per command group.
#[derive(Subcommand, Debug)]
enum Command {
    /// The Redis Clusters: create, wait, status, pick, master-of, check-node.
    #[command(subcommand)]
    Cluster(cluster::Command),
    /// Do a fault: ops fault kill|pause|resume|start|launch|isolate|split|heal TARGET.
    Fault(fault::Fault),
    /// The availability picture: steady load, one kill at a time, report.md and timeline.png.
    ChaosReport(chaos_report::Args),
    /// Test a running stack: ops probe e2e|crash|durability|gateway-wait.
    Probe(probe::ProbeArgs),
    /// The checkout benchmark of the local stack: run, populate, redis-config.
    #[command(subcommand)]
    Bench(bench::Command),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            // The message and its causes on one line, without a backtrace.
            eprintln!("ops: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stack = cli.stack.stack()?;
    match cli.command {
        Command::Cluster(c) => c.run(&stack).await?,
        Command::Fault(f) => f.run(&stack).await?,
        Command::ChaosReport(args) => {
            let code = chaos_report::run(args, stack, &cli.stack.run_dir).await?;
            return Ok(ExitCode::from(code));
        }
        Command::Probe(p) => return p.run(&stack).await,
        Command::Bench(b) => b.run(&stack).await?,
    }
    Ok(ExitCode::SUCCESS)
}
