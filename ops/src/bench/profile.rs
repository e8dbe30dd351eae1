//! `BENCH_PROFILE`: where a fresh run's cost goes. Before the run every Redis node's
//! command statistics are reset and every stack process's CPU time is read; after it, what
//! each component spent per answered checkout, and each cluster's Redis commands per
//! checkout (over its masters), are appended to the profile file as two tables.

use super::error::{Error, Result};
use super::machine::{clock_ticks, process_ticks};
use crate::cluster::{self, rules::Role};
use crate::stack::{local::Local, node_index, Cluster};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

pub struct Profile {
    file: PathBuf,
    /// CPU ticks of each stack component (its pid file's name) at the start.
    start: HashMap<String, u64>,
}

/// Each component's CPU ticks now (0 for one that is not running).
fn ticks(local: &Local) -> Result<HashMap<String, u64>> {
    Ok(local
        .recorded()?
        .into_iter()
        .map(|name| {
            let t = local.running_pid(&name).map_or(0, process_ticks);
            (name, t)
        })
        .collect())
}

impl Profile {
    pub async fn begin(file: PathBuf, local: &Local, clusters: &[Cluster]) -> Result<Profile> {
        let start = ticks(local)?;
        for node in clusters.iter().flat_map(|c| &c.nodes) {
            // A node that does not answer shows as down at the end.
            let _ = node.query(&["CONFIG", "RESETSTAT"]).await;
        }
        Ok(Profile { file, start })
    }

    /// Appends the two tables about `label`'s `checkouts` answered checkouts.
    pub async fn end(
        self,
        local: &Local,
        clusters: &[Cluster],
        label: &str,
        checkouts: u64,
    ) -> Result<()> {
        let end = ticks(local)?;
        let mut roles = HashMap::new();
        let mut stats = Vec::new();
        for cluster in clusters {
            for p in cluster::probe(cluster).await {
                roles.insert(p.name.clone(), p.role());
            }
            let mut lines = String::new();
            for node in cluster::in_role(cluster, Role::Master).await {
                lines += &node
                    .query(&["INFO", "commandstats"])
                    .await
                    .unwrap_or_default();
                lines.push('\n');
            }
            stats.push((cluster.service.clone(), lines));
        }
        let mut cpu: BTreeMap<String, u64> = BTreeMap::new();
        for (name, t) in &end {
            let spent = t.saturating_sub(self.start.get(name).copied().unwrap_or(0));
            *cpu.entry(group(name, roles.get(name).copied().flatten()))
                .or_default() += spent;
        }
        let n = checkouts.max(1) as f64;
        let mut text = format!(
            "\nProfile of {label}: {checkouts} checkouts. CPU ms per checkout by component:\n\n\
             | component | CPU ms per checkout |\n|---|---|\n"
        );
        let hz = clock_ticks() as f64;
        for (g, t) in &cpu {
            text += &format!("| {g} | {:.3} |\n", *t as f64 * 1000.0 / hz / n);
        }
        text += "\nRedis commands per checkout, summed over each cluster's masters (INFO commandstats):\n\n\
                 | cluster | command | calls per checkout | us per call | us per checkout |\n\
                 |---|---|---|---|---|\n";
        for (svc, lines) in &stats {
            text += &command_rows(svc, lines, n);
        }
        let mut f = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(Error::io(format!("opening {}", self.file.display())))?;
        f.write_all(text.as_bytes())
            .map_err(Error::io(format!("writing {}", self.file.display())))
    }
}

/// The component a process counts for: a service's replicas together (`stock`), the
/// gateway, and a cluster's nodes by their role now (`redis-stock master`).
fn group(name: &str, role: Option<Role>) -> String {
    let base = name.rsplit_once('-').map_or(name, |(g, _)| g);
    match node_index(name) {
        Some(_) => format!("{base} {}", role.map_or("down", Role::name)),
        None => base.to_string(),
    }
}

/// `INFO commandstats` of a cluster's masters, summed per command: a row per command that
/// runs at least once per hundred checkouts, the costliest first.
fn command_rows(svc: &str, lines: &str, n: f64) -> String {
    let mut sum: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    // cmdstat_evalsha:calls=N,usec=N,usec_per_call=N,...
    for line in lines.lines() {
        let Some((cmd, fields)) = line
            .trim()
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let field = |k: &str| {
            fields
                .split(',')
                .find_map(|f| f.strip_prefix(k)?.strip_prefix('=')?.parse::<f64>().ok())
        };
        if let (Some(calls), Some(usec)) = (field("calls"), field("usec")) {
            let e = sum.entry(cmd).or_default();
            e.0 += calls;
            e.1 += usec;
        }
    }
    let mut rows: Vec<(&str, f64, f64)> = sum
        .into_iter()
        .filter(|(_, (c, _))| c / n >= 0.01)
        .map(|(k, (c, u))| (k, c, u))
        .collect();
    rows.sort_by(|a, b| (b.2 / n).total_cmp(&(a.2 / n)));
    rows.iter()
        .map(|(cmd, calls, usec)| {
            format!(
                "| {svc} | {cmd} | {:.2} | {:.1} | {:.1} |\n",
                calls / n,
                usec / calls,
                usec / n
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_count_for_their_component_and_nodes_for_their_role() {
        assert_eq!(group("stock-2", None), "stock");
        assert_eq!(group("gateway", None), "gateway");
        assert_eq!(
            group("redis-order-3", Some(Role::Master)),
            "redis-order master"
        );
        assert_eq!(
            group("redis-order-4", Some(Role::Replica)),
            "redis-order replica"
        );
        assert_eq!(group("redis-order-5", None), "redis-order down");
    }

    #[test]
    fn command_stats_add_up_over_masters_costliest_first() {
        let stats = "# Commandstats\r\n\
            cmdstat_evalsha:calls=100,usec=5000,usec_per_call=50.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_wait:calls=50,usec=100,usec_per_call=2.00\r\n\
            cmdstat_ping:calls=0,usec=0,usec_per_call=0\n\
            cmdstat_evalsha:calls=100,usec=7000,usec_per_call=70.00\n";
        let rows = command_rows("order", stats, 100.0);
        assert_eq!(
            rows,
            "| order | evalsha | 2.00 | 60.0 | 120.0 |\n| order | wait | 0.50 | 2.0 | 1.0 |\n"
        );
    }
}
