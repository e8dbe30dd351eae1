//! Faults on the containers of one compose project: `docker kill`, `pause`, `unpause`,
//! `start` (then waits until the container's health check passes), `launch` (`docker start` alone),
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

/// Waits until the container's own health check passes (or until it runs, when it has
/// none): its `Healthcheck.Test` from the compose file, run by `docker exec` twice a second.
/// Docker's own status would come only with its first check, one `interval` after the
/// start (10 s in docker-compose.yml, which keeps the checks' cost low).
async fn wait_healthy(container: &str) -> Result<()> {
    let config = docker_out(&[
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        container,
    ])
    .await?;
    let check = health_command(&config)
        .map_err(|e| Error::State(format!("{container}: its health check: {e}")))?;
    let start = Instant::now();
    loop {
        let state = docker_out(&["inspect", "--format", "{{.State.Status}}", container]).await?;
        let state = state.trim();
        let passes = || async {
            let Some(command) = &check else { return true };
            let mut exec = vec!["exec", container];
            exec.extend(command.iter().map(String::as_str));
            matches!(
                tokio::time::timeout(CHECK_BOUND, docker_out(&exec)).await,
                Ok(Ok(_))
            )
        };
        if state == "running" && passes().await {
            return Ok(());
        }
        if start.elapsed() > START_BOUND {
            return Err(Error::State(format!(
                "{container} is {state}, its health check failing, {}s after docker start",
                START_BOUND.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One run of a health check is given this long.
const CHECK_BOUND: Duration = Duration::from_secs(5);

/// The command a container's health check runs, from `docker inspect`'s
/// `{{json .Config.Healthcheck}}`: `CMD` runs its arguments, `CMD-SHELL` its string with
/// `/bin/sh -c`; `None` when the container has no check (`null`, `NONE`).
fn health_command(config: &str) -> std::result::Result<Option<Vec<String>>, String> {
    let check: serde_json::Value =
        serde_json::from_str(config.trim()).map_err(|e| format!("{e} in {config:?}"))?;
    let test: Vec<String> = match check.get("Test") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(test) => serde_json::from_value(test.clone())
            .map_err(|e| format!("its Test is not a list of strings ({e}): {test}"))?,
    };
    match test.split_first() {
        None => Ok(None),
        Some((kind, _)) if kind == "NONE" => Ok(None),
        Some((kind, args)) if kind == "CMD" && !args.is_empty() => Ok(Some(args.to_vec())),
        Some((kind, [line])) if kind == "CMD-SHELL" => {
            Ok(Some(vec!["/bin/sh".into(), "-c".into(), line.clone()]))
        }
        _ => Err(format!("a test Docker does not run: {test:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::health_command;

    #[test]
    fn a_health_check_is_run_as_docker_runs_it() {
        let cmd = r#"{"Test":["CMD","ops","cluster","check-node"],"Interval":10000000000}"#;
        assert_eq!(
            health_command(cmd).unwrap(),
            Some(vec!["ops".into(), "cluster".into(), "check-node".into()])
        );
        let shell = r#"{"Test":["CMD-SHELL","curl -f http://127.0.0.1:8080/ && true"]}"#;
        assert_eq!(
            health_command(shell).unwrap(),
            Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "curl -f http://127.0.0.1:8080/ && true".into()
            ])
        );
        for none in ["null", r#"{"Test":["NONE"]}"#, "{}"] {
            assert_eq!(health_command(none).unwrap(), None, "{none}");
        }
        for bad in [
            r#"{"Test":["CMD"]}"#,
            r#"{"Test":["SHELL","x"]}"#,
            r#"{"Test":7}"#,
            "no",
        ] {
            assert!(health_command(bad).is_err(), "{bad}");
        }
    }
}
