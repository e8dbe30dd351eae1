//! Reading a Redis Cluster's state from what `redis-cli` prints. Pure: no I/O.
//!
//! The docker driver asks every node of a service's cluster, in one `docker exec` each, for
//! `PING`, `CLUSTER INFO`, `CLUSTER NODES` and `INFO replication` (the sections separated by
//! [`MARK`]); `not_whole` says why the cluster is not whole yet, the same rule as
//! `env/local/stack.sh wait`: every node answers, `cluster_state:ok` with all 16384 slots on
//! every node, no node flagged failing in any node's view, every master serving slots has a
//! replica, and every replica's link to its master is up. Nothing here decides whom to kill.

use super::victim::Role;
use anyhow::{bail, Result};

/// The line between the sections of one node's probe.
pub const MARK: &str = "--wdm-probe--";

/// The shell command a node runs for its probe (`redis-cli` reads `REDISCLI_AUTH`).
pub fn probe_script() -> String {
    format!(
        "redis-cli ping; echo {MARK}; redis-cli cluster info; echo {MARK}; \
         redis-cli cluster nodes; echo {MARK}; redis-cli info replication"
    )
}

/// What `ROLE` (or `redis-cli role`) printed: its first line is `master` or `slave`.
pub fn parse_role(text: &str) -> Result<Role> {
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some("master") => Ok(Role::Master),
        Some("slave") | Some("replica") => Ok(Role::Replica),
        other => bail!("ROLE answered {other:?}, expected master or slave"),
    }
}

/// The value of `field` in `INFO` or `CLUSTER INFO` output (`field:value` lines).
pub fn info_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .find(|(k, _)| *k == field)
        .map(|(_, v)| v.trim())
}

/// One line of `CLUSTER NODES`:
/// `<id> <ip:port@bus> <flags> <master id or -> <ping> <pong> <epoch> <link> <slot>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    pub id: String,
    pub addr: String,
    pub flags: Vec<String>,
    pub master: Option<String>,
    /// The cluster bus link to it is up (a node killed a moment ago is `disconnected`
    /// before it is flagged `fail?`).
    pub connected: bool,
    pub serves_slots: bool,
}

impl NodeLine {
    pub fn is_master(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }
    pub fn failing(&self) -> bool {
        !self.connected
            || self
                .flags
                .iter()
                .any(|f| f == "fail" || f == "fail?" || f == "noaddr" || f == "handshake")
    }
    /// The port of its address (`10.0.0.2:6379@16379,host` is 6379).
    pub fn port(&self) -> Option<u16> {
        let host_port = self.addr.split(['@', ',']).next()?;
        host_port.rsplit_once(':')?.1.parse().ok()
    }
}

pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            Some(NodeLine {
                id: f[0].to_string(),
                addr: f[1].to_string(),
                flags: f[2].split(',').map(str::to_string).collect(),
                master: (f[3] != "-").then(|| f[3].to_string()),
                connected: f[7] == "connected",
                serves_slots: f.len() > 8,
            })
        })
        .collect()
}

/// One node's answers; `None` for a section it did not answer.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub name: String,
    pub ping: bool,
    pub info: Option<String>,
    pub nodes: Option<String>,
    pub replication: Option<String>,
}

/// Splits the output of `probe_script` run on node `name` (`None`: the exec failed).
pub fn parse_probe(name: &str, output: Option<&str>) -> Probe {
    let Some(output) = output else {
        return Probe {
            name: name.to_string(),
            ..Probe::default()
        };
    };
    let mut parts = output.split(MARK).map(|p| p.trim().to_string());
    let mut next = || parts.next().filter(|p| !p.is_empty());
    let ping = next().is_some_and(|p| p == "PONG");
    Probe {
        name: name.to_string(),
        ping,
        info: next(),
        nodes: next(),
        replication: next(),
    }
}

/// Why the cluster these nodes form is not whole; `None` when it is.
pub fn not_whole(probes: &[Probe]) -> Option<String> {
    for p in probes {
        if !p.ping {
            return Some(format!("{} does not answer PING", p.name));
        }
        let info = p.info.as_deref().unwrap_or("");
        let state = info_field(info, "cluster_state").unwrap_or("?");
        if state != "ok" {
            return Some(format!("{}: cluster_state:{state}", p.name));
        }
        let slots = info_field(info, "cluster_slots_ok").unwrap_or("?");
        if slots != "16384" {
            return Some(format!("{}: cluster_slots_ok:{slots}", p.name));
        }
        let view = parse_nodes(p.nodes.as_deref().unwrap_or(""));
        if view.is_empty() {
            return Some(format!("{}: no CLUSTER NODES answer", p.name));
        }
        if let Some(bad) = view.iter().find(|n| n.failing()) {
            let link = if bad.connected { "" } else { " (disconnected)" };
            return Some(format!(
                "{} sees {} as {}{link}",
                p.name,
                bad.addr,
                bad.flags.join(",")
            ));
        }
        if let Some(why) = orphan_master(&view) {
            return Some(format!("{}: {why}", p.name));
        }
        let repl = p.replication.as_deref().unwrap_or("");
        if info_field(repl, "role") == Some("slave") {
            let link = info_field(repl, "master_link_status").unwrap_or("?");
            if link != "up" {
                return Some(format!("{}: master_link_status:{link}", p.name));
            }
        }
    }
    None
}

/// A master serving slots without a replica, when the cluster has replicas at all (a
/// cluster of masters only has nothing to wait for).
fn orphan_master(view: &[NodeLine]) -> Option<String> {
    if view.iter().all(NodeLine::is_master) {
        return None;
    }
    view.iter()
        .filter(|m| m.is_master() && m.serves_slots)
        .find(|m| {
            !view
                .iter()
                .any(|r| r.master.as_deref() == Some(m.id.as_str()) && !r.failing())
        })
        .map(|m| format!("master {} has no replica", m.addr))
}

#[cfg(test)]
mod tests;
