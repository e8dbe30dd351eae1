//! One Redis node and the way to talk to it: a TCP connection (the local stack, `--hosts`)
//! or `redis-cli` inside its container (`docker exec`, so that nothing depends on the host
//! reaching the compose network).

use super::output;
use crate::cluster::rules::Probe;
use crate::error::{bounded, Error, Result};
use redis::{IntoConnectionInfo, RedisConnectionInfo, Value};
use std::time::Duration;
use tokio::process::Command;

/// Bound on one exchange with a node (a node that hangs is a node that does not answer).
const ANSWER_BOUND: Duration = Duration::from_secs(5);
/// The same through `docker exec`, which alone takes seconds on a loaded host.
const EXEC_BOUND: Duration = Duration::from_secs(20);
/// Between the sections of one `docker exec` probe.
const MARK: &str = "--ops-probe--";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Tcp {
        host: String,
        port: u16,
        password: Option<String>,
    },
    Exec {
        container: String,
        password: String,
    },
}

impl std::fmt::Display for Link {
    /// `127.0.0.1:6400`, or the container's name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Tcp { host, port, .. } => write!(f, "{host}:{port}"),
            Link::Exec { container, .. } => f.write_str(container),
        }
    }
}

/// A node: its component name (`redis-stock-3`, or its address for `--hosts`) and its link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub link: Link,
}

impl Node {
    /// Sends one command and returns its answer as text (lines for an array).
    pub async fn query(&self, args: &[&str]) -> Result<String> {
        self.query_within(args, ANSWER_BOUND).await
    }

    /// [`Node::query`] with its own bound, for a command that may take long (a script over
    /// every key of the node).
    pub async fn query_within(&self, args: &[&str], bound: Duration) -> Result<String> {
        let what = format!("{} {}", self.name, args.join(" "));
        match &self.link {
            Link::Tcp { .. } => {
                bounded(&what, bound, async {
                    let mut con = self.connect(bound).await?;
                    let v: Value = redis::cmd(args[0])
                        .arg(&args[1..])
                        .query_async(&mut con)
                        .await
                        .map_err(Error::redis(what.clone()))?;
                    Ok(text(v))
                })
                .await
            }
            Link::Exec {
                container,
                password,
            } => {
                let mut cmd = exec(container, password);
                cmd.arg("redis-cli").args(args);
                let out = bounded(&what, bound.max(EXEC_BOUND), output(&mut cmd, &what)).await?;
                // redis-cli prints an error answer and still exits 0.
                match out.strip_prefix("ERR ") {
                    Some(err) => Err(Error::State(format!("{what}: {}", err.trim()))),
                    None => Ok(out.trim_end().to_string()),
                }
            }
        }
    }

    /// Sends `commands` over one connection, each answered before the next, and returns
    /// their answers: what `WAIT` needs, which counts the replicas that have this
    /// connection's writes. Every answer must be one line (no arrays), and no argument may
    /// hold a space (they go to `redis-cli`'s standard input in a container).
    pub async fn session(&self, commands: &[Vec<String>], bound: Duration) -> Result<Vec<String>> {
        let what = format!("{}: a session of {} commands", self.name, commands.len());
        match &self.link {
            Link::Tcp { .. } => {
                bounded(&what, bound, async {
                    let mut con = self.connect(bound).await?;
                    let mut answers = Vec::with_capacity(commands.len());
                    for args in commands {
                        let v: Value = redis::cmd(&args[0])
                            .arg(&args[1..])
                            .query_async(&mut con)
                            .await
                            .map_err(Error::redis(what.clone()))?;
                        answers.push(text(v));
                    }
                    Ok(answers)
                })
                .await
            }
            Link::Exec {
                container,
                password,
            } => {
                let script: String = commands.iter().map(|c| c.join(" ") + "\n").collect();
                let mut cmd = exec(container, password);
                cmd.arg("redis-cli");
                bounded(&what, bound, piped(cmd, script, &what)).await
            }
        }
    }

    /// Its answers to `PING`, `CLUSTER INFO`, `CLUSTER NODES` and `INFO replication`.
    pub async fn probe(&self) -> Probe {
        match &self.link {
            Link::Tcp { .. } => self
                .probe_tcp()
                .await
                .unwrap_or_else(|_| Probe::silent(&self.name)),
            Link::Exec {
                container,
                password,
            } => {
                let script = format!(
                    "redis-cli ping; echo {MARK}; redis-cli cluster info; echo {MARK}; \
                     redis-cli cluster nodes; echo {MARK}; redis-cli info replication"
                );
                let mut cmd = exec(container, password);
                cmd.args(["sh", "-c", &script]);
                let out = bounded(&self.name, EXEC_BOUND, output(&mut cmd, &self.name)).await;
                split_probe(&self.name, out.ok().as_deref())
            }
        }
    }

    async fn probe_tcp(&self) -> Result<Probe> {
        bounded(&self.name, ANSWER_BOUND, async {
            let con = self.connect(ANSWER_BOUND).await?;
            let ask = |args: &'static [&'static str]| {
                let mut con = con.clone();
                let what = self.name.clone();
                async move {
                    redis::cmd(args[0])
                        .arg(&args[1..])
                        .query_async::<Value>(&mut con)
                        .await
                        .map(text)
                        .map_err(Error::redis(what))
                }
            };
            let ping = ask(&["PING"]).await?;
            Ok(Probe {
                name: self.name.clone(),
                ping: ping == "PONG",
                info: ask(&["CLUSTER", "INFO"]).await.ok(),
                nodes: ask(&["CLUSTER", "NODES"]).await.ok(),
                replication: ask(&["INFO", "replication"]).await.ok(),
            })
        })
        .await
    }

    /// A connection whose answers may take up to `bound` (the client's own default, 500 ms,
    /// would cut a long script short).
    async fn connect(&self, bound: Duration) -> Result<redis::aio::MultiplexedConnection> {
        let Link::Tcp {
            host,
            port,
            password,
        } = &self.link
        else {
            return Err(Error::Invalid(format!("{} has no TCP address", self.name)));
        };
        let what = format!("connecting to {} ({host}:{port})", self.name);
        let mut settings = RedisConnectionInfo::default();
        if let Some(p) = password {
            settings = settings.set_password(p);
        }
        let info = (host.as_str(), *port)
            .into_connection_info()
            .map_err(Error::redis(what.clone()))?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(Error::redis(what.clone()))?;
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(bound));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(Error::redis(what))
    }

    /// The address its cluster bus announces (`CLUSTER MEET` takes an IP, not a name).
    pub async fn meet_addr(&self) -> Result<(String, u16)> {
        match &self.link {
            Link::Tcp { host, port, .. } => {
                let what = format!("resolving {host}");
                let mut addrs = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .map_err(Error::io(what.clone()))?;
                let addr = addrs
                    .find(|a| a.is_ipv4())
                    .ok_or_else(|| Error::State(format!("{what}: no IPv4 address")))?;
                Ok((addr.ip().to_string(), *port))
            }
            Link::Exec { container, .. } => {
                let format = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}";
                let mut cmd = Command::new("docker");
                cmd.args(["inspect", "--format", format, container]);
                let out = output(&mut cmd, &format!("docker inspect {container}")).await?;
                let ip = out.split_whitespace().next().ok_or_else(|| {
                    Error::State(format!("{container} has no address on a network"))
                })?;
                Ok((ip.to_string(), 6379))
            }
        }
    }
}

/// `docker exec` in `container` with the password `redis-cli` reads (and standard input,
/// for a session; `output()` gives the others none).
fn exec(container: &str, password: &str) -> Command {
    let mut cmd = Command::new("docker");
    cmd.args(["exec", "-i", "-e"])
        .arg(format!("REDISCLI_AUTH={password}"))
        .arg(container)
        .kill_on_drop(true);
    cmd
}

/// Runs `cmd` with `input` on its standard input; its output's lines.
async fn piped(mut cmd: Command, input: String, what: &str) -> Result<Vec<String>> {
    use tokio::io::AsyncWriteExt;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(Error::io(what.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .await
            .map_err(Error::io(what.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(Error::io(what.to_string()))?;
    if !out.status.success() {
        return Err(Error::Command {
            what: what.to_string(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Splits the output of the probe script (`None`: the exec failed).
fn split_probe(name: &str, output: Option<&str>) -> Probe {
    let Some(output) = output else {
        return Probe::silent(name);
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

/// A Redis answer as the text `redis-cli` would print without a terminal.
fn text(v: Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::SimpleString(s) => s,
        Value::VerbatimString { text, .. } => text,
        Value::Okay => "OK".into(),
        Value::Int(n) => n.to_string(),
        Value::Nil => String::new(),
        Value::Array(items) | Value::Set(items) => {
            let lines: Vec<String> = items.into_iter().map(text).collect();
            lines.join("\n")
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_splits_into_its_four_answers() {
        let out = format!("PONG\n{MARK}\ncluster_state:ok\n{MARK}\nx y z\n{MARK}\nrole:master\n");
        let p = split_probe("redis-stock-4", Some(&out));
        assert!(p.ping);
        assert_eq!(p.info.as_deref(), Some("cluster_state:ok"));
        assert_eq!(p.nodes.as_deref(), Some("x y z"));
        assert_eq!(p.replication.as_deref(), Some("role:master"));
        let refused = format!("Could not connect to Redis\n{MARK}\n{MARK}\n{MARK}\n");
        let p = split_probe("redis-stock-4", Some(&refused));
        assert_eq!(p, Probe::silent("redis-stock-4"));
        assert_eq!(split_probe("n", None), Probe::silent("n"));
    }

    #[test]
    fn answers_read_as_redis_cli_prints_them() {
        assert_eq!(text(Value::Okay), "OK");
        assert_eq!(text(Value::BulkString(b"a:1\r\n".to_vec())), "a:1\r\n");
        let role = Value::Array(vec![Value::BulkString(b"master".to_vec()), Value::Int(28)]);
        assert_eq!(text(role), "master\n28");
    }
}
