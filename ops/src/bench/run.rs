//! The steps of `ops bench run`, in order: check the stack, populate (and the fresh
//! orders), compact the AOFs, snapshot, per connection count the ceilings and the runs,
//! wait for in-flight sagas, snapshot again, judge the invariants, write the table.

use super::args::{Mode, RunArgs};
use super::ceiling::Ceiling;
use super::error::{Error, Result};
use super::gateway::{base_url, Gateway};
use super::invariants::{self, Clusters, Sample};
use super::machine::{self, busy_ticks, clock_ticks, memory_kib, mib};
use super::populate::{orders_batch_init, populate, secs};
use super::profile::Profile;
use super::sums::{self, ACTIVE_SAGAS};
use super::table::{self, Report, Row, SERVICES};
use super::wrk::{self, Load, Outcome};
use crate::cluster::{self, rules::info_field};
use crate::stack::{local::Local, Cluster, Stack};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn log(msg: &str) {
    eprintln!("[bench] {msg}");
}

/// The ids of the ceilings' random runs.
const CEILING_IDS: u64 = 100_000;

pub async fn run(stack: &Stack, args: RunArgs) -> Result<()> {
    let Stack::Local(local) = stack else {
        return Err(Error::Setup(format!(
            "ops bench runs against the local stack, not the {} back end",
            stack.backend()
        )));
    };
    let repo = repo_of(local)?;
    let scripts = args
        .scripts
        .clone()
        .unwrap_or_else(|| repo.join("stress-test/bench"));
    let out = args
        .out
        .clone()
        .filter(|o| !o.as_os_str().is_empty())
        .unwrap_or_else(|| repo.join("stress-test/results/bench.md"));
    let gateway = Gateway::new(base_url(args.gateway.as_deref(), local.port_offset))?;
    let clusters = Clusters {
        order: local.cluster("order"),
        stock: local.cluster("stock"),
        payment: local.cluster("payment"),
    };
    let all = [
        clusters.order.clone(),
        clusters.stock.clone(),
        clusters.payment.clone(),
    ];
    check_setup(&gateway, &all, args.ceilings).await?;
    machine::raise_fd_limit();

    let p = &args.population;
    let fresh_orders = args.fresh_orders();
    populate(&gateway, p, Duration::from_secs(600)).await?;
    if fresh_orders > p.orders {
        log(&format!(
            "fresh orders: batch_init of {fresh_orders} orders (ids {}.. are for fresh runs)",
            p.orders
        ));
        let t = Instant::now();
        let path = orders_batch_init(p, fresh_orders);
        gateway.post(&path, Duration::from_secs(900)).await?;
        log(&format!("  done in {:.1}s", secs(t)));
    }
    compact(&all).await;

    let sample = Sample::draw(args.sample, p.users, p.items);
    log(&format!(
        "snapshot before the runs (exact sums in Redis, {} users and items through the API)",
        args.sample
    ));
    let before = invariants::snapshot(&clusters, &gateway, &sample).await?;
    let peaks_after_populate = peaks(local);

    let ceiling = match args.ceilings {
        true => Some(Ceiling::start(&local.run_dir, &scripts, local.port_offset).await?),
        false => None,
    };
    let bench = Bench {
        args: &args,
        local,
        clusters: &all,
        script: scripts.join("checkout.lua"),
    };
    let mut rows = Vec::new();
    let mut ceilings = Vec::new();
    let mut fresh_base = p.orders;
    let mut any_5xx = false;
    let mut ran_out = Vec::new();
    for &c in &args.connections.0 {
        let mut of = None;
        if let Some(ceil) = &ceiling {
            let direct = bench
                .ceiling(c, &ceil.url, "gateway alone", "/direct/")
                .await?;
            let hop = bench
                .ceiling(c, &ceil.url, "one proxied hop", "/hop/")
                .await?;
            ceilings.push((c, direct, hop));
            of = Some((direct, hop));
        }
        for &mode in &args.modes.0 {
            let load = match mode {
                Mode::Fresh => {
                    log(&format!(
                        "fresh checkouts, {c} connections, {}s (order ids from {fresh_base})",
                        args.seconds
                    ));
                    Load {
                        url: &gateway.url,
                        mode,
                        prefix: "/orders/checkout/",
                        base: fresh_base,
                        count: 0,
                    }
                }
                Mode::Random => {
                    log(&format!(
                        "random checkouts, {c} connections, {}s (order ids 0..{})",
                        args.seconds,
                        p.orders - 1
                    ));
                    Load {
                        url: &gateway.url,
                        mode,
                        prefix: "/orders/checkout/",
                        base: 0,
                        count: p.orders,
                    }
                }
            };
            let (o, busy) = bench.wrk(c, &load).await?;
            if mode == Mode::Fresh {
                if o.next_base > fresh_orders {
                    ran_out.push(format!("fresh/{c}"));
                    log(&format!(
                        "  WARNING: ran past the {fresh_orders} fresh orders (raise BENCH_FRESH_RATE)"
                    ));
                }
                fresh_base = o.next_base;
            }
            any_5xx |= o.s5xx > 0;
            // Machine CPU per answered checkout: everything on it (wrk, gateway, services,
            // Redis) over the run, so it compares builds more steadily than the rate does.
            let answered = o.rate * args.seconds as f64;
            let cpu_ms =
                (o.rate > 0.0).then(|| busy as f64 * 1000.0 / clock_ticks() as f64 / answered);
            let of_ceilings = of.map(|(d, h)| (100.0 * o.rate / d, 100.0 * o.rate / h));
            let row = Row {
                mode,
                connections: c,
                outcome: o,
                cpu_ms,
                of_ceilings,
                peaks: peaks(local),
            };
            let line = row.line();
            log(&format!("  {line}"));
            rows.push(line);
        }
    }
    drop(ceiling);

    wait_for_sagas(&clusters.order).await?;
    log("snapshot after the runs");
    let after = invariants::snapshot(&clusters, &gateway, &sample).await?;
    let problems = invariants::problems(&sample, &before, &after);
    let ch = invariants::change(&before, &after);
    let report = Report {
        date: jiff::Timestamp::now().strftime("%F %T").to_string(),
        cpus: machine::cpus(),
        threads: args.threads,
        seconds: args.seconds,
        gateway: gateway.url.clone(),
        fsync: args.fsync.clone(),
        replicas: [
            args.order_replicas,
            args.stock_replicas,
            args.payment_replicas,
        ],
        items: p.items,
        users: p.users,
        orders: p.orders,
        stock: p.stock,
        credit: p.credit,
        price: p.price,
        fresh_orders,
        rows,
        ceilings,
        ceiling_port: 8900 + local.port_offset,
        peaks_after_populate,
        rss_now: SERVICES
            .iter()
            .map(|s| format!("{s}={}", memory(local, s, "VmRSS")))
            .collect(),
        redis_peaks: [
            cluster_peak(local, &all[0]),
            cluster_peak(local, &all[1]),
            cluster_peak(local, &all[2]),
        ],
        invariants: format!(
            "Invariants: newly paid orders {} (cost {}, units {}); credit {} -> {};\n\
             stock {} -> {}; {} users and {} items checked through the API.\n",
            ch.paid,
            ch.cost,
            ch.units,
            before.credit,
            after.credit,
            before.stock,
            after.stock,
            args.sample,
            args.sample
        ),
        problems,
        ran_out,
    };
    let text = table::render(&report);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    }
    std::fs::write(&out, &text).map_err(Error::io(format!("writing {}", out.display())))?;
    println!("\n{text}");
    log(&format!("written to {}", out.display()));
    if !report.problems.is_empty() {
        return Err(Error::Failed("invariants broken".into()));
    }
    if any_5xx {
        return Err(Error::Failed("some checkout answered 5xx".into()));
    }
    log("ok");
    Ok(())
}

/// What every wrk run shares.
struct Bench<'a> {
    args: &'a RunArgs,
    local: &'a Local,
    clusters: &'a [Cluster],
    script: PathBuf,
}

impl Bench<'_> {
    /// One ceiling run (random ids behind `prefix`): its rate.
    async fn ceiling(&self, c: u32, url: &str, name: &str, prefix: &str) -> Result<f64> {
        log(&format!(
            "ceiling: {name}, {c} connections, {}s",
            self.args.seconds
        ));
        let load = Load {
            url,
            mode: Mode::Random,
            prefix,
            base: 0,
            count: CEILING_IDS,
        };
        let (o, _) = self.wrk(c, &load).await?;
        log(&format!("  {:.1}/s", o.rate));
        Ok(o.rate)
    }

    /// One wrk run at `c` connections, profiled when asked (fresh checkouts only); its
    /// outcome and the machine's busy ticks during it.
    async fn wrk(&self, c: u32, load: &Load<'_>) -> Result<(Outcome, u64)> {
        let profiled = load.mode == Mode::Fresh;
        let profile = match (self.args.profile(), profiled) {
            (Some(f), true) => Some(Profile::begin(f.clone(), self.local, self.clusters).await?),
            _ => None,
        };
        let busy0 = busy_ticks()?;
        let threads = self.args.threads_at(c);
        let o = wrk::run(&self.script, threads, c, self.args.seconds, load).await?;
        let busy = busy_ticks()?.saturating_sub(busy0);
        if let Some(profile) = profile {
            let label = format!("fresh checkouts at {c} connections");
            let answered = (o.rate * self.args.seconds as f64).round() as u64;
            profile
                .end(self.local, self.clusters, &label, answered)
                .await?;
        }
        Ok((o, busy))
    }
}

/// The repository whose `env/local/stack.sh` runs this stack.
fn repo_of(local: &Local) -> Result<PathBuf> {
    let script = local.script()?;
    script
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::Setup(format!("no repository around {}", script.display())))
}

/// The gateway answers, every cluster is whole, and the tools are there.
async fn check_setup(gateway: &Gateway, clusters: &[Cluster], ceilings: bool) -> Result<()> {
    let mut tools = vec!["wrk"];
    if ceilings {
        tools.push("nginx");
    }
    for tool in tools {
        let found = std::process::Command::new(tool)
            .arg("-v")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if found.is_err() {
            return Err(Error::Setup(format!("{tool} not found")));
        }
    }
    if !gateway.healthy().await {
        return Err(Error::Setup(format!(
            "no gateway at {} (make up)",
            gateway.url
        )));
    }
    for c in clusters {
        if let Some(why) = cluster::not_whole(c).await {
            return Err(Error::Setup(format!("{why} (make up)")));
        }
    }
    Ok(())
}

/// Populating grows each AOF far past its last rewrite, so Redis would start an automatic
/// rewrite (a forked child serialising every key) in the middle of a measured run. Compact
/// now and wait (up to 5 minutes a node), so that the runs measure checkouts.
async fn compact(clusters: &[Cluster]) {
    log("compacting the AOFs after populating (BGREWRITEAOF)");
    let nodes: Vec<_> = clusters.iter().flat_map(|c| &c.nodes).collect();
    for node in &nodes {
        let _ = node.query(&["BGREWRITEAOF"]).await;
    }
    for node in &nodes {
        for _ in 0..600 {
            let info = node
                .query(&["INFO", "persistence"])
                .await
                .unwrap_or_default();
            let done = |f| info_field(&info, f) == Some("0");
            if done("aof_rewrite_in_progress") && done("aof_rewrite_scheduled") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Waits (up to 2 minutes) until no saga is active on any master of the order cluster.
async fn wait_for_sagas(order: &Cluster) -> Result<()> {
    log("waiting for in-flight sagas to finish");
    let mut active = 0;
    for _ in 0..240 {
        active = sums::on_masters(order, ACTIVE_SAGAS, &[])
            .await?
            .first()
            .copied()
            .unwrap_or(0);
        if active == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(Error::Failed(format!(
        "{active} sagas still active after 120 s"
    )))
}

/// A component's memory figure in MiB, "-" when it is not running.
fn memory(local: &Local, name: &str, field: &str) -> String {
    local
        .running_pid(name)
        .and_then(|pid| memory_kib(pid, field))
        .map_or_else(|| "-".into(), mib)
}

/// Peak RSS of each service process, MiB.
fn peaks(local: &Local) -> Vec<String> {
    SERVICES.iter().map(|s| memory(local, s, "VmHWM")).collect()
}

/// Peak RSS of a cluster: the sum over its running nodes, MiB each.
fn cluster_peak(local: &Local, cluster: &Cluster) -> u64 {
    cluster
        .nodes
        .iter()
        .filter_map(|n| memory(local, &n.name, "VmHWM").parse::<u64>().ok())
        .sum()
}
