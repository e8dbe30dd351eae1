//! Faults on the containers of one compose project: `docker kill`, `pause`, `unpause`,
//! `start` (then waits until the container is healthy), `launch` (`docker start` alone),
//! and a Redis node's partition: `isolate` by `docker network disconnect` (clients and
//! all), `split` by iptables rules in the node's own network namespace (`nsenter`) that
//! drop what it exchanges with the other nodes of its cluster (its clients still reach it);
//! `heal` deletes those rules and connects it again at its fixed address (its
//! `ANNOUNCE_IP`, which the cluster knows it by) to the networks it left.

use super::Action;
use crate::error::{Error, Result};
use crate::stack::docker::Project;
use crate::stack::{cluster_of, output};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// How long a started container may take to report healthy (or running, without a
/// health check).
const START_BOUND: Duration = Duration::from_secs(60);

pub async fn act(project: &Project, action: Action, name: &str) -> Result<()> {
    let container = project.container(name).await?.name;
    match action {
        Action::Kill => docker(&["kill", &container]).await,
        Action::Pause => pause(&container).await,
        Action::Resume => docker(&["unpause", &container]).await,
        Action::Start => {
            docker(&["start", &container]).await?;
            wait_healthy(&container).await
        }
        Action::Launch => docker(&["start", &container]).await,
        Action::Isolate => {
            for net in networks(project).await? {
                docker(&["network", "disconnect", &net, &container]).await?;
            }
            Ok(())
        }
        Action::Split => {
            let pid = pid_of(&container).await?;
            for peer in project.containers().await? {
                if peer.service == name || cluster_of(&peer.service) != cluster_of(name) {
                    continue;
                }
                let ip = announce_ip(&peer.name).await?;
                for (chain, way) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
                    let rule = [
                        chain,
                        way,
                        &ip,
                        "-m",
                        "comment",
                        "--comment",
                        CUT,
                        "-j",
                        "DROP",
                    ];
                    in_namespace(&pid, &[&["-I"], &rule[..]].concat()).await?;
                }
            }
            Ok(())
        }
        Action::Heal => {
            let pid = pid_of(&container).await?;
            let rules = in_namespace(&pid, &["-S"]).await?;
            for rule in rules
                .lines()
                .filter(|l| l.starts_with("-A ") && l.contains(CUT))
            {
                let args: Vec<&str> = rule[3..].split_whitespace().collect();
                in_namespace(&pid, &[&["-D"], &args[..]].concat()).await?;
            }
            let ip = announce_ip(&container).await?;
            let format = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}";
            let joined = docker_out(&["inspect", "--format", format, &container]).await?;
            for net in networks(project).await? {
                if !joined.split_whitespace().any(|j| j == net) {
                    docker(&["network", "connect", "--ip", &ip, &net, &container]).await?;
                }
            }
            Ok(())
        }
    }
}

/// The comment on the rules of a split (heal deletes every rule that has it).
const CUT: &str = "wdm-cut";

/// The pid of the container's main process (its network namespace is the container's).
async fn pid_of(container: &str) -> Result<String> {
    let pid = docker_out(&["inspect", "--format", "{{.State.Pid}}", container]).await?;
    let pid = pid.trim();
    match pid.parse::<u32>() {
        Ok(p) if p > 0 => Ok(pid.to_string()),
        _ => Err(Error::State(format!(
            "{container} is not running (pid {pid})"
        ))),
    }
}

/// `iptables ARGS` in the network namespace of process `pid`; its output.
async fn in_namespace(pid: &str, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("nsenter");
    cmd.args(["-t", pid, "-n", "iptables"]).args(args);
    output(
        &mut cmd,
        &format!("nsenter -t {pid} -n iptables {}", args.join(" ")),
    )
    .await
}

/// `docker pause`, tried again a few times when the freezer gave up: runc fails a pause
/// ("unable to freeze") when a process of the container does not stop in time (one in the
/// middle of a disk write), and leaves it running.
async fn pause(container: &str) -> Result<()> {
    let mut tries = 0;
    loop {
        tries += 1;
        match docker(&["pause", container]).await {
            Err(e) if tries < PAUSE_TRIES && e.to_string().contains("unable to freeze") => {
                eprintln!("[fault] docker pause {container} failed ({e}), trying again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            done => return done,
        }
    }
}

/// How many times `docker pause` is tried.
const PAUSE_TRIES: u32 = 5;

async fn docker(args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    output(&mut cmd, &format!("docker {}", args.join(" ")))
        .await
        .map(|_| ())
}

async fn docker_out(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    output(&mut cmd, &format!("docker {}", args.join(" "))).await
}

/// The project's networks.
async fn networks(project: &Project) -> Result<Vec<String>> {
    let filter = format!("label=com.docker.compose.project={}", project.name);
    let out = docker_out(&[
        "network",
        "ls",
        "--filter",
        &filter,
        "--format",
        "{{.Name}}",
    ])
    .await?;
    Ok(out.split_whitespace().map(str::to_string).collect())
}

/// The container's `ANNOUNCE_IP`.
async fn announce_ip(container: &str) -> Result<String> {
    let format = "{{range .Config.Env}}{{println .}}{{end}}";
    let env = docker_out(&["inspect", "--format", format, container]).await?;
    env.lines()
        .find_map(|l| l.strip_prefix("ANNOUNCE_IP="))
        .map(str::to_string)
        .ok_or_else(|| Error::State(format!("{container} has no ANNOUNCE_IP to rejoin at")))
}

/// Waits until the container is healthy (or running, when it has no health check).
async fn wait_healthy(container: &str) -> Result<()> {
    let format = "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}";
    let start = Instant::now();
    loop {
        let state = docker_out(&["inspect", "--format", format, container]).await?;
        let state = state.trim();
        if state == "healthy" || state == "running" {
            return Ok(());
        }
        if start.elapsed() > START_BOUND {
            return Err(Error::State(format!(
                "{container} is {state} {}s after docker start",
                START_BOUND.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
