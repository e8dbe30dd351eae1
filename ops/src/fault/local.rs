//! Faults on the local stack: signals to the pid in `$RUN_DIR/pids/NAME.pid` and to its
//! children (nginx workers, a Redis rewrite child), and `env/local/stack.sh start NAME` to
//! bring a component back (it returns once the component is healthy and, for a Redis
//! node, its cluster whole). A network partition needs a network namespace per node,
//! which plain processes do not have: not supported here yet.

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
        Action::Isolate | Action::Heal => Err(Error::Unsupported {
            what: "a network partition",
            backend: "local",
        }),
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
