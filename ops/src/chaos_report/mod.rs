//! `ops chaos-report`: an availability picture of a running local stack.
//!
//! Drives steady load through the gateway (`load.rs`), kills one component at a time
//! through the fault driver, leaves it down for `--down` seconds, starts it again (which
//! returns once it is healthy, a Redis node once its cluster is whole again), lets the load
//! settle, and goes on with the next victim (`plan.rs`): every order, stock and payment
//! replica, then for each service its Redis master and one of its Redis replicas, picked by
//! their role at that moment. Then it judges every kill (`judge.rs`) and writes `report.md`,
//! `samples.csv`, `kills.csv`, `timeline.csv` and `stack.log` to `--out` (`report.rs`), and
//! has `stress-test/chaos_plot.py` draw `timeline.png` from them.
//!
//! Whatever it killed is started again whatever happens (an error, Ctrl-C, SIGTERM): a
//! signal only ends the waits, never a kill or a start half-way. Only loopback gateways are
//! accepted. Exit code: 0 when every kill met its target, 1 when one missed it or the run
//! broke off, 2 when it could not start.

mod faults;
mod judge;
mod load;
mod plan;
mod report;

use crate::stack::Stack;
use anyhow::{bail, Context, Result};
use faults::Faults;
use judge::Kill;
use load::{Load, LoadConfig};
use plan::{Mode, Victim};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `ops chaos-report`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The gateway (loopback only) [default: $GATEWAY, or http://127.0.0.1:(8000 + $PORT_OFFSET)]
    #[arg(long)]
    gateway: Option<String>,
    /// Where the outputs go [default: <run dir>/chaos-report]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Concurrent clients running checkouts
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Seconds each worker waits between requests
    #[arg(long, default_value_t = 0.1)]
    pause: f64,
    /// Reads per second of each probed entity, sent open loop (0: none)
    #[arg(long, default_value_t = 8.0)]
    probe_rate: f64,
    /// Seconds a request may take
    #[arg(long, default_value_t = 20.0)]
    timeout: f64,
    /// Seconds of load before the first kill
    #[arg(long, default_value_t = 5.0)]
    steady: f64,
    /// Seconds each victim stays down
    #[arg(long, default_value_t = 5.0)]
    down: f64,
    /// Seconds after a victim is back before the next kill
    #[arg(long, default_value_t = 4.0)]
    settle: f64,
    /// Bound on one kill, start or lookup of the fault driver (seconds)
    #[arg(long, default_value_t = 150.0)]
    stack_timeout: f64,
    /// How the stack keeps each service's data (auto: cluster when order's has a master)
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    mode: Mode,
    /// Victims, comma separated: component names (order-1, redis-stock-3), or
    /// redis:SVC:master / redis:SVC:replica [default: every service replica, then each
    /// service's Redis master and one replica]
    #[arg(long, value_delimiter = ',', value_parser = Victim::parse)]
    only: Vec<Victim>,
    /// The script that draws timeline.png from the CSVs ('' for none)
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../stress-test/chaos_plot.py"))]
    plot: PathBuf,
}

/// One line of progress, stamped with the seconds since the start.
fn log(t0: Instant, msg: impl std::fmt::Display) {
    println!("[chaos-report {:6.1}s] {msg}", t0.elapsed().as_secs_f64());
}

/// Runs the report against `stack`; the exit code.
pub async fn run(args: Args, stack: Stack, run_dir: &Path) -> Result<u8> {
    let t0 = Instant::now();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| run_dir.join("chaos-report"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let gateway = args.gateway.clone().unwrap_or_else(default_gateway);
    if !is_loopback(&gateway) {
        log(
            t0,
            format!("refusing {gateway}: only a loopback gateway (this machine's stack)"),
        );
        return Ok(2);
    }
    let bound = secs(args.stack_timeout);
    let faults = Faults::new(stack, &out.join("stack.log"), bound, t0)?;
    let status_before = match faults.status().await {
        Ok(status) => status,
        Err(e) => {
            log(
                t0,
                format!("the stack is not up and whole ({e:#}); start it with `make up`"),
            );
            return Ok(2);
        }
    };
    let cluster = match args.mode {
        Mode::Cluster => true,
        Mode::Single => false,
        Mode::Auto => faults.has_cluster().await,
    };
    let plan = if args.only.is_empty() {
        plan::default_plan(cluster, service_replicas)
    } else {
        args.only.clone()
    };
    let names: Vec<String> = plan.iter().map(Victim::to_string).collect();
    let mode = if cluster { "cluster" } else { "single" };
    log(t0, format!("mode {mode}: victims {}", names.join(", ")));

    let cfg = LoadConfig {
        gateway: gateway.clone(),
        workers: args.workers,
        pause: secs(args.pause),
        probe_rate: args.probe_rate,
        timeout: secs(args.timeout),
    };
    let mut chaos = Chaos {
        args: &args,
        t0,
        faults: &faults,
        load: Load::new(cfg, t0).context("making the HTTP client")?,
        kills: Vec::new(),
        down: BTreeSet::new(),
        skipped: Vec::new(),
        abort: interrupted_by_signals()?,
    };
    let broke = chaos.run(&plan).await.err();
    if let Some(e) = &broke {
        log(t0, format!("run broken off: {e:#}"));
    }
    let restored = chaos.restore().await;
    log(t0, "stopping the load (in-flight requests finish)");
    let Chaos {
        load,
        kills,
        skipped,
        ..
    } = chaos;
    let now = load.now();
    let samples = load.stop().await;
    let status_after = faults.status().await.unwrap_or_else(|e| format!("{e:#}"));
    let mut notes: Vec<String> = skipped.iter().map(|m| format!("skipped: {m}")).collect();
    notes.extend(broke.as_ref().map(|e| format!("the run broke off: {e:#}")));
    let settings = report::Settings {
        mode: topology(cluster, &faults).await,
        gateway,
        workers: args.workers,
        pause: args.pause,
        probe_rate: args.probe_rate,
        timeout: args.timeout,
        down: args.down,
        settle: args.settle,
        notes,
        status: (status_before, status_after),
    };
    let run_end = samples.iter().map(|s| s.end).fold(now, f64::max);
    let (md, passed) = report::write_all(&out, &samples, &kills, run_end, &settings)?;
    // The summary line and the table.
    for line in md
        .lines()
        .filter(|l| l.starts_with("Steady phase") || l.starts_with('|'))
    {
        println!("{line}");
    }
    draw(&args.plot, &out, &settings, t0);
    log(
        t0,
        format!(
            "wrote {}: report.md, samples.csv, kills.csv, timeline.csv, stack.log",
            out.display()
        ),
    );
    if broke.is_some() || !restored {
        return Ok(1);
    }
    log(
        t0,
        if passed {
            "every kill met its target"
        } else {
            "some kill missed its target"
        },
    );
    Ok(if passed { 0 } else { 1 })
}

/// The run in progress: what was killed, what is down.
struct Chaos<'a> {
    args: &'a Args,
    t0: Instant,
    faults: &'a Faults,
    load: Load,
    kills: Vec<Kill>,
    /// Victims killed and not yet started again.
    down: BTreeSet<String>,
    /// Victims that could not be resolved, and why.
    skipped: Vec<String>,
    /// Cancelled by Ctrl-C or SIGTERM.
    abort: CancellationToken,
}

impl Chaos<'_> {
    async fn run(&mut self, plan: &[Victim]) -> Result<()> {
        tokio::select! {
            started = self.load.start() => started.context("setting up the probes")?,
            _ = self.abort.cancelled() => bail!("interrupted (Ctrl-C or SIGTERM)"),
        }
        log(
            self.t0,
            format!(
                "steady load for {} s before the first kill",
                self.args.steady
            ),
        );
        self.wait(self.args.steady).await?;
        for victim in plan {
            self.one(victim).await?;
        }
        Ok(())
    }

    /// Kills one victim, waits, starts it again, lets the load settle.
    async fn one(&mut self, victim: &Victim) -> Result<()> {
        let role = victim.role;
        let name = match self.faults.resolve(&victim.target).await {
            Ok(name) => name,
            Err(e) => {
                let why = format!("{victim}: {e:#}");
                log(self.t0, format!("skipped: {why}"));
                self.skipped.push(why);
                return Ok(());
            }
        };
        self.kills
            .push(Kill::new(name.clone(), role, self.load.now()));
        self.down.insert(name.clone());
        let killed = self.faults.kill(&name).await;
        killed.with_context(|| format!("killing {name}; see stack.log"))?;
        self.last().killed = Some(self.load.now());
        log(
            self.t0,
            format!("killed {name} ({role}); down for {} s", self.args.down),
        );
        self.wait(self.args.down).await?;
        let started = self.load.now();
        let back = self.faults.start(&name).await;
        back.with_context(|| format!("starting {name}; see stack.log"))?;
        let recovered = self.load.now();
        self.last().recovered = Some(recovered);
        self.down.remove(&name);
        let took = recovered - started;
        log(
            self.t0,
            format!(
                "{name} healthy again ({took:.1} s in start); settling {} s",
                self.args.settle
            ),
        );
        self.wait(self.args.settle).await?;
        self.last().settled = Some(self.load.now());
        let called = self.last().called;
        let since: Vec<_> = self
            .load
            .samples()
            .into_iter()
            .filter(|s| s.end >= called)
            .collect();
        let errors = since.iter().filter(|s| !s.ok()).count();
        log(
            self.t0,
            format!(
                "{name}: {} answers, {errors} errors since its kill",
                since.len()
            ),
        );
        Ok(())
    }

    fn last(&mut self) -> &mut Kill {
        self.kills.last_mut().expect("a kill was pushed before")
    }

    /// Sleeps, or fails once a signal came.
    async fn wait(&self, seconds: f64) -> Result<()> {
        tokio::select! {
            _ = tokio::time::sleep(secs(seconds)) => Ok(()),
            _ = self.abort.cancelled() => bail!("interrupted (Ctrl-C or SIGTERM)"),
        }
    }

    /// Starts every victim still down (the run broke off); false if one would not start.
    async fn restore(&mut self) -> bool {
        let mut ok = true;
        for name in std::mem::take(&mut self.down) {
            log(self.t0, format!("restoring {name}"));
            let started = self.faults.start(&name).await;
            let note = match &started {
                Ok(()) => format!(
                    "the run broke off while it was down; started again at {:.1} s",
                    self.load.now()
                ),
                Err(e) => format!("the run broke off while it was down; start failed ({e:#})"),
            };
            for k in self
                .kills
                .iter_mut()
                .filter(|k| k.victim == name && k.recovered.is_none())
            {
                k.broken = true;
                k.note = note.clone();
            }
            if let Err(e) = started {
                log(
                    self.t0,
                    format!("could not start {name} again ({e:#}): run `ops fault start {name}`"),
                );
                ok = false;
            }
        }
        ok
    }
}

/// A token cancelled by the first Ctrl-C or SIGTERM.
fn interrupted_by_signals() -> Result<CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        cancel.cancel();
    });
    Ok(token)
}

/// Has `plot` draw timeline.png from the CSVs in `out`; a picture that could not be drawn is
/// said, and changes no verdict.
fn draw(plot: &Path, out: &Path, settings: &report::Settings, t0: Instant) {
    if plot.as_os_str().is_empty() {
        return;
    }
    let title = format!(
        "{}: {} workers of fresh checkouts, one kill at a time",
        settings.mode, settings.workers
    );
    let drawn = std::process::Command::new(plot)
        .arg(out)
        .arg(&title)
        .status();
    match drawn {
        Ok(s) if s.success() => log(t0, format!("drew {}", out.join("timeline.png").display())),
        Ok(s) => log(
            t0,
            format!("timeline.png not drawn: {} exited with {s}", plot.display()),
        ),
        Err(e) => log(
            t0,
            format!("timeline.png not drawn: {}: {e}", plot.display()),
        ),
    }
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.0))
}

fn default_gateway() -> String {
    std::env::var("GATEWAY").unwrap_or_else(|_| {
        let offset: u16 = env_number("PORT_OFFSET", 0);
        format!("http://127.0.0.1:{}", 8000 + offset)
    })
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The replicas of a service the stack runs (as `env/local/stack.sh` reads them).
fn service_replicas(service: &str) -> usize {
    env_number(&format!("{}_REPLICAS", service.to_uppercase()), 2)
}

/// The stack's way of keeping data, for the report.
async fn topology(cluster: bool, faults: &Faults) -> String {
    if !cluster {
        return "one Redis per service (no cluster)".to_string();
    }
    match faults.topology().await {
        Ok(t) => format!(
            "Redis Cluster per service ({} masters, {} replica(s) each)",
            t.masters, t.replicas
        ),
        Err(_) => "Redis Cluster per service".to_string(),
    }
}

/// Whether the URL's host is this machine's loopback.
fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| matches!(h.as_str(), "127.0.0.1" | "localhost" | "[::1]" | "::1"))
}
