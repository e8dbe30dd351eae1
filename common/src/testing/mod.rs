//! The test harness: real `redis-server` processes on free loopback ports, each a
//! Redis Cluster node as in production, and ([`participant`]) a participant service
//! started on port 0 against one of them.
//!
//! A [`RedisServer`] is a one-master cluster (the light topology, same code path as
//! the full one: it holds every slot); a [`RedisCluster`] has several masters with
//! replicas, for the failover tests. Each node has its own data folder (AOF on,
//! `appendfsync no`, its `nodes.conf`) and is SIGKILLed when dropped, so a failing
//! test leaves nothing running. Tests can also kill and restart a node on the same
//! port and folder to check what survives a crash. Only for tests (feature
//! `testing`): it panics on whatever it cannot set up, and never ships in a service
//! binary. It drives the nodes with `redis-cli` (Debian's redis-tools, which
//! redis-server depends on).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{Config, RedisConfig};

pub mod cluster;
pub mod participant;

pub use cluster::RedisCluster;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind an ephemeral port on 127.0.0.1")
}

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// Its `min-replicas-to-write` (0 for a one-node cluster, 1 in a cluster with
    /// replicas: the production setting).
    required_replicas: usize,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a one-node Redis Cluster that serves every slot, and waits until it does.
    pub fn start() -> Self {
        let server = Self::start_node(0);
        redis_cli(server.port, &["cluster", "addslotsrange", "0", "16383"]);
        server.wait_cluster_ok();
        server
    }

    /// Starts a cluster-enabled redis-server that serves no slot yet (a node of a
    /// [`RedisCluster`]) and waits until it answers PING. `required_replicas`: its
    /// `min-replicas-to-write`.
    pub fn start_node(required_replicas: usize) -> Self {
        let dir = tempfile::tempdir().expect("cannot create a temp dir for redis");
        for _ in 0..5 {
            let port = free_port();
            // The cluster bus listens on port + 10000, which must be free too.
            if port > 55_535 || TcpListener::bind(("127.0.0.1", port + 10_000)).is_err() {
                continue;
            }
            if let Some(child) = spawn(port, dir.path(), required_replicas) {
                return RedisServer {
                    child: Some(child),
                    port,
                    required_replicas,
                    dir,
                };
            }
        }
        panic!("redis-server did not start after 5 attempts (is it installed?)");
    }

    /// Waits until this node says `cluster_state:ok` (at most 20 s).
    pub fn wait_cluster_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if redis_cli(self.port, &["cluster", "info"]).contains("cluster_state:ok") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the node on port {} never reached cluster_state:ok",
            self.port
        );
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The Redis settings a service under test uses for this server.
    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            url: self.url(),
            // Generous: CI machines are slow and busy; a Redis that is down fails at once anyway.
            timeout: Duration::from_millis(3000),
            // No retrying by default: the tests of a Redis that is down expect the 503 now.
            wait: Duration::ZERO,
            idempotency_ttl: Duration::from_secs(3600),
            replica_wait: Duration::from_millis(500),
            write_linger: Duration::from_millis(1),
        }
    }

    /// The configuration of a service under test that uses this server: both ports 0
    /// (read the real ones back from the `Application`), two workers, a short shutdown.
    pub fn service_config(&self) -> Config {
        Config {
            listen_addr: "127.0.0.1:0".into(),
            internal_listen_addr: "127.0.0.1:0".into(),
            workers: 2,
            shutdown_timeout_secs: 1,
            redis: self.config(),
        }
    }

    /// SIGKILLs the server, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): its connections stay open and commands wait
    /// unanswered until [`resume`](Self::resume), as on a stalled machine.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill {signal} {} failed", child.id());
    }

    /// Starts it again on the same port and data folder (after [`kill`](Self::kill)),
    /// and waits until it says `cluster_state:ok` (its `nodes.conf` brings its cluster
    /// role back; a one-node cluster is whole again at once, a node of a bigger one once
    /// it rejoined).
    pub fn restart(&mut self) {
        self.launch();
        self.wait_cluster_ok();
    }

    /// Starts it again on the same port and data folder (after [`kill`](Self::kill)),
    /// and waits only until it answers PING: it may still be loading, rejoining or
    /// resynchronising, as a node just started by an operator is.
    pub fn launch(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = spawn(self.port, self.dir.path(), self.required_replicas) {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }

    /// Runs `redis-cli` against this node and returns what it printed.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The production node settings (env/local/redis-cluster.sh, docs/design.md, "Storage").
fn spawn(port: u16, dir: &Path, required_replicas: usize) -> Option<Child> {
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(["--appendonly", "yes", "--appendfsync", "no"])
        .args(["--save", ""])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ])
        .args(["--cluster-node-timeout", "1000"])
        .args(["--cluster-require-full-coverage", "no"])
        .args(["--cluster-replica-validity-factor", "1"])
        .args(["--cluster-allow-replica-migration", "no"])
        .args(["--min-replicas-to-write", &required_replicas.to_string()])
        .args(["--min-replicas-max-lag", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run redis-server: install it (apt-get install redis-server)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None; // exited: most likely the port was taken meanwhile
        }
        if answers_ping(port) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut buf).is_ok()
        && &buf == b"+PONG\r\n"
}

/// Runs `redis-cli -p port args...` and returns its output (empty when it failed).
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}
