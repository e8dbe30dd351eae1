//! The steps of `ops bench run`, in order: check the stack, populate (and the fresh
//! orders), compact the AOFs, snapshot, per connection count the ceilings and the runs,
//! wait for in-flight sagas, snapshot again, judge the invariants, write the table.

use super::args::RunArgs;
use super::ceiling::Ceiling;
use super::error::{Error, Result};
use super::gateway::{base_url, Gateway};
use super::invariants::{self, Clusters, Sample};
use super::machine::{self, memory_kib, mib};
use super::measure::Bench;
use super::populate::{orders_batch_init, populate, secs};
use super::sums::{self, ACTIVE_SAGAS};
use super::table::{self, Report, SERVICES};
use crate::cluster::{self, rules::info_field};
use crate::stack::{local::Local, Cluster, Stack};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(super) fn log(msg: &str) {
    eprintln!("[bench] {msg}");
}

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

    let bench = Bench {
        args: &args,
        local,
        clusters: &all,
        script: scripts.join("checkout.lua"),
    };
    let ceiling = match args.ceilings {
        true => Some(Ceiling::start(&local.run_dir, &scripts, local.port_offset).await?),
        false => None,
    };
    let m = bench
        .measure(&gateway.url, ceiling.as_ref(), fresh_orders)
        .await?;
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
        rows: m.rows,
        ceilings: m.ceilings,
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
        ran_out: m.ran_out,
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
    if m.any_5xx {
        return Err(Error::Failed("some checkout answered 5xx".into()));
    }
    log("ok");
    Ok(())
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
pub(super) fn peaks(local: &Local) -> Vec<String> {
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
