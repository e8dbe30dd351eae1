//! Faults on the local stack: signals to the pid in `$RUN_DIR/pids/NAME.pid` and to its
//! children (nginx workers, a Redis rewrite child), and `env/local/stack.sh start NAME` to
//! bring a component back (it returns once the component is healthy and, for a Redis
//! node, its cluster whole).
//!
//! A partition of a Redis node is made of iptables rules in the OUTPUT chain, which every
//! loopback packet passes once, from its sender. Every node runs in a cgroup of its own
//! (`env/local/redis-cluster.sh`), so iptables' cgroup match tells its packets from the
//! others' although all of them go from 127.0.0.1 to 127.0.0.1:
//! - isolate: what it sends, and what is sent to its ports, is dropped (as a host that
//!   left the network, clients and all);
//! - split: what it sends to the other nodes' ports, and what the other nodes send to its
//!   ports, is dropped; its clients still reach it.
//!
//! The rules added are listed in `$RUN_DIR/cuts/NAME`; heal deletes them (and
//! `stack.sh down` heals whatever is left).

use super::Action;
use crate::error::{Error, Result};
use crate::stack::local::Local;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// How long a killed process may take to be gone (its ports free).
const GONE_BOUND: Duration = Duration::from_secs(10);

pub async fn act(stack: &Local, action: Action, name: &str) -> Result<()> {
    match action {
        Action::Kill => kill(stack, name).await,
        Action::Pause => signal(stack, name, libc::SIGSTOP),
        Action::Resume => signal(stack, name, libc::SIGCONT),
        Action::Start => start_with(stack, name, &[]).await,
        Action::Launch => stack_sh(stack, "launch", name, &[]).await,
        Action::Isolate => cut(stack, name, true).await,
        Action::Split => cut(stack, name, false).await,
        Action::Heal => heal(stack, name).await,
    }
}

/// Why node `name` cannot be cut off here, if it cannot: no cgroup of its own (no writable
/// cgroup v2 hierarchy when it started) or no working iptables.
pub async fn cannot_cut(stack: &Local, name: &str) -> Option<String> {
    if let Err(e) = node_cgroup(running(stack, name).ok()?) {
        return Some(e.to_string());
    }
    iptables(&["-S", "OUTPUT"])
        .await
        .err()
        .map(|e| e.to_string())
}

/// The rules that cut node `name` off: `everyone` (isolate) or only its cluster (split).
async fn cut(stack: &Local, name: &str, everyone: bool) -> Result<()> {
    let (service, n) = super::node_of(name)?;
    let cgroup = node_cgroup(running(stack, name)?)?;
    let ports = |k| {
        let port = stack.node_port(service, k);
        [port, port + BUS_OFFSET]
    };
    let list = |ports: &[u16]| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let own = list(&ports(n));
    let from = |path: &str, to: &str| {
        let mut rule = vec!["OUTPUT"];
        if !path.is_empty() {
            rule.extend(["-m", "cgroup", "--path", path]);
        }
        if !to.is_empty() {
            rule.extend(["-p", "tcp", "-m", "multiport", "--dports", to]);
        }
        rule.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let mut rules = Vec::new();
    if everyone {
        rules.push(from(&cgroup, ""));
        rules.push(from("", &own));
    } else {
        let others: Vec<u16> = (1..=stack.topology.nodes())
            .filter(|&k| k != n)
            .flat_map(ports)
            .collect();
        // multiport takes up to 15 ports.
        for chunk in others.chunks(15) {
            rules.push(from(&cgroup, &list(chunk)));
        }
        let stack_nodes = cgroup.rsplit_once('/').map_or("", |(parent, _)| parent);
        rules.push(from(stack_nodes, &own));
    }
    let tag = format!("wdm-cut:{name}");
    let dir = stack.run_dir.join("cuts");
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let file = dir.join(name);
    let mut listed = std::fs::read_to_string(&file).unwrap_or_default();
    for mut rule in rules {
        rule.extend(["-m", "comment", "--comment", &tag, "-j", "DROP"].map(String::from));
        let args: Vec<&str> = rule.iter().map(String::as_str).collect();
        iptables(&[&["-I"], &args[..]].concat()).await?;
        listed.push_str(&rule.join(" "));
        listed.push('\n');
        std::fs::write(&file, &listed).map_err(Error::io(format!("writing {}", file.display())))?;
    }
    Ok(())
}

/// Deletes the rules that cut node `name` off (none: nothing to do).
async fn heal(stack: &Local, name: &str) -> Result<()> {
    let file = stack.run_dir.join("cuts").join(name);
    let Ok(listed) = std::fs::read_to_string(&file) else {
        return Ok(());
    };
    for rule in listed.lines().filter(|l| !l.trim().is_empty()) {
        let args: Vec<&str> = rule.split_whitespace().collect();
        iptables(&[&["-D"], &args[..]].concat()).await?;
    }
    std::fs::remove_file(&file).map_err(Error::io(format!("removing {}", file.display())))
}

/// The cluster bus of a node listens on its port + 10 000.
const BUS_OFFSET: u16 = 10_000;

/// The cgroup (v2, relative to the hierarchy's root) process `pid` runs in; the root is
/// refused: the node shares it with every other process.
fn node_cgroup(pid: i32) -> Result<String> {
    let file = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&file).map_err(Error::io(format!("reading {file}")))?;
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().trim_start_matches('/').to_string())
        .unwrap_or_default();
    match path.is_empty() {
        true => Err(Error::Unsupported {
            what: "a partition of a node without a cgroup of its own (needs a writable cgroup v2 hierarchy)",
            backend: "local",
        }),
        false => Ok(path),
    }
}

async fn iptables(args: &[&str]) -> Result<()> {
    let what = format!("iptables {}", args.join(" "));
    let out = Command::new("iptables")
        .args(args)
        .output()
        .await
        .map_err(Error::io(what.clone()))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(Error::State(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

fn running(stack: &Local, name: &str) -> Result<i32> {
    stack
        .running_pid(name)
        .ok_or_else(|| Error::State(format!("{name} is not running")))
}

/// `sig` to the component's process and its children; their pids.
fn signal_all(pid: i32, sig: i32) -> Vec<i32> {
    let mut pids = vec![pid];
    pids.extend(children(pid));
    for &p in &pids {
        // SAFETY: kill(2) on a pid read from our own pid file (or its child); a pid that
        // is gone meanwhile only makes it fail with ESRCH.
        unsafe {
            libc::kill(p, sig);
        }
    }
    pids
}

fn signal(stack: &Local, name: &str, sig: i32) -> Result<()> {
    signal_all(running(stack, name)?, sig);
    Ok(())
}

/// SIGKILL, then waits until the process is gone (or a zombie) and removes its pid file.
async fn kill(stack: &Local, name: &str) -> Result<()> {
    let pid = running(stack, name)?;
    // A stopped process dies of SIGKILL as well.
    signal_all(pid, libc::SIGKILL);
    let start = Instant::now();
    while stack.running_pid(name).is_some() && start.elapsed() < GONE_BOUND {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let file = stack.pid_file(name);
    std::fs::remove_file(&file).map_err(Error::io(format!("removing {}", file.display())))
}

/// The direct children of `pid`, from the kernel's per-thread lists.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// `stack.sh start NAME` with this stack's settings and `env` on top (the crash probe
/// starts replicas with `CRASH_AFTER_WRITES`).
pub async fn start_with(stack: &Local, name: &str, env: &[(&str, &str)]) -> Result<()> {
    stack_sh(stack, "start", name, env).await
}

/// `stack.sh COMMAND NAME` on this stack.
async fn stack_sh(stack: &Local, command: &str, name: &str, env: &[(&str, &str)]) -> Result<()> {
    let script = stack.script()?;
    let what = format!("{} {command} {name}", script.display());
    let status = Command::new(&script)
        .args([command, name])
        .envs(env.iter().copied())
        .env("RUN_DIR", &stack.run_dir)
        .env("PORT_OFFSET", stack.port_offset.to_string())
        .env("REDIS_MASTERS", stack.topology.masters.to_string())
        .env("REDIS_REPLICAS", stack.topology.replicas.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .map_err(Error::io(what.clone()))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::State(format!("{what} failed ({status})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_a_process_are_read_from_proc() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        assert!(children(me).contains(&(child.id() as i32)));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(children(-1).is_empty());
    }
}
