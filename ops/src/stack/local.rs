//! The local stack of plain processes that `env/local/stack.sh` starts: its Redis nodes'
//! names and ports (the layout of `env/local/redis-cluster.sh`), and its components' pids,
//! read only from `$RUN_DIR/pids/NAME.pid`.
//!
//! A pid counts only while its process lives, is no zombie, and still runs the program the
//! component runs (a recycled pid is somebody else's process).

use super::{Cluster, Link, Node};
use crate::cluster::rules::Topology;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// At most this many nodes per cluster: their ports are ten apart per service.
const MAX_NODES: usize = 10;

pub struct Local {
    pub run_dir: PathBuf,
    pub port_offset: u16,
    pub topology: Topology,
    /// `env/local/stack.sh` (default: [`Local::script`] finds it).
    pub script: Option<PathBuf>,
}

impl Local {
    pub fn new(run_dir: PathBuf, port_offset: u16, topology: Topology) -> Result<Local> {
        if topology.masters < 1 || topology.nodes() > MAX_NODES {
            return Err(Error::Invalid(format!(
                "need REDIS_MASTERS >= 1 and at most {MAX_NODES} nodes per cluster \
                 (got {topology}: {} nodes)",
                topology.nodes()
            )));
        }
        Ok(Local {
            run_dir,
            port_offset,
            topology,
            script: None,
        })
    }

    /// The stack in `run_dir` as `PORT_OFFSET`, `REDIS_MASTERS` and `REDIS_REPLICAS` (0 and
    /// [`Topology::DEFAULT`] when unset) describe it.
    pub fn from_env(run_dir: PathBuf) -> Result<Local> {
        let port_offset = env_number("PORT_OFFSET", 0)?;
        let masters = env_number("REDIS_MASTERS", Topology::DEFAULT.masters)?;
        let replicas = env_number("REDIS_REPLICAS", Topology::DEFAULT.replicas)?;
        Local::new(run_dir, port_offset, Topology { masters, replicas })
    }

    /// Node `n` (from 1) of `service`'s cluster listens on this port: order 6400 + n - 1,
    /// stock 6410 + n - 1, payment 6420 + n - 1, all + PORT_OFFSET.
    pub fn node_port(&self, service: &str, n: usize) -> u16 {
        let base = match service {
            "order" => 6400,
            "stock" => 6410,
            _ => 6420,
        };
        // n <= MAX_NODES: the sum fits.
        base + (n as u16 - 1) + self.port_offset
    }

    pub fn cluster(&self, service: &str) -> Cluster {
        let nodes = (1..=self.topology.nodes())
            .map(|n| Node {
                name: format!("redis-{service}-{n}"),
                link: Link::Tcp {
                    host: "127.0.0.1".into(),
                    port: self.node_port(service, n),
                    password: None,
                },
            })
            .collect();
        Cluster {
            service: service.to_string(),
            topology: self.topology,
            nodes,
        }
    }

    pub fn pid_file(&self, name: &str) -> PathBuf {
        self.run_dir.join("pids").join(format!("{name}.pid"))
    }

    /// Every component with a pid file, sorted.
    pub fn recorded(&self) -> Result<Vec<String>> {
        let dir = self.run_dir.join("pids");
        let entries =
            std::fs::read_dir(&dir).map_err(Error::io(format!("reading {}", dir.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".pid").map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The pid of `name` while it runs as this stack's process.
    pub fn running_pid(&self, name: &str) -> Option<i32> {
        let text = std::fs::read_to_string(self.pid_file(name)).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let status = std::fs::read_to_string(proc.join("status")).ok()?;
        if is_zombie(&status) {
            return None;
        }
        let cmdline = std::fs::read(proc.join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        cmdline.contains(program_of(name)).then_some(pid)
    }

    /// The `env/local/stack.sh` that starts this stack's processes: the one given,
    /// `$STACK_SH`, else the one of the repository this binary was built in
    /// (`target/*/ops`) or is run from.
    pub fn script(&self) -> Result<PathBuf> {
        if let Some(path) = &self.script {
            return Ok(path.clone());
        }
        if let Ok(path) = std::env::var("STACK_SH") {
            return Ok(PathBuf::from(path));
        }
        let exe = std::env::current_exe().ok();
        let cwd = std::env::current_dir().ok();
        [exe, cwd]
            .into_iter()
            .flatten()
            .find_map(|start| find_up(&start, "env/local/stack.sh"))
            .ok_or_else(|| {
                Error::State("env/local/stack.sh not found (set STACK_SH to its path)".into())
            })
    }
}

fn env_number<T: std::str::FromStr>(var: &str, default: T) -> Result<T> {
    match std::env::var(var) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse()
            .map_err(|_| Error::Invalid(format!("{var} must be a whole number (got {v:?})"))),
    }
}

fn find_up(start: &Path, rel: &str) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(rel))
        .find(|p| p.is_file())
}

/// What the command line of a component's process contains.
pub fn program_of(name: &str) -> &str {
    if name.starts_with("redis-") {
        "redis-server"
    } else if name == "gateway" {
        "nginx"
    } else {
        // A service replica, `stock-2`, runs the binary `stock`.
        name.rsplit_once('-').map_or(name, |(svc, _)| svc)
    }
}

fn is_zombie(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .is_some_and(|s| s.trim_start().starts_with('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(offset: u16) -> Local {
        Local::new(
            PathBuf::from("/nonexistent"),
            offset,
            Topology {
                masters: 3,
                replicas: 1,
            },
        )
        .unwrap()
    }

    #[test]
    fn nodes_follow_the_port_layout_of_the_stack() {
        let l = local(1000);
        let stock = l.cluster("stock");
        assert_eq!(stock.nodes.len(), 6);
        assert_eq!(stock.nodes[2].name, "redis-stock-3");
        assert_eq!(
            stock.nodes[2].link,
            Link::Tcp {
                host: "127.0.0.1".into(),
                port: 7412,
                password: None
            }
        );
        assert_eq!(local(0).node_port("order", 1), 6400);
        assert_eq!(local(0).node_port("payment", 6), 6425);
    }

    #[test]
    fn too_many_nodes_or_no_master_is_refused() {
        let t = |masters, replicas| Topology { masters, replicas };
        assert!(Local::new(PathBuf::new(), 0, t(0, 1)).is_err());
        assert!(Local::new(PathBuf::new(), 0, t(4, 2)).is_err());
        assert!(Local::new(PathBuf::new(), 0, t(5, 1)).is_ok());
    }

    #[test]
    fn a_component_is_known_by_the_program_it_runs() {
        assert_eq!(program_of("redis-stock-3"), "redis-server");
        assert_eq!(program_of("gateway"), "nginx");
        assert_eq!(program_of("stock-2"), "stock");
        assert_eq!(program_of("order"), "order");
        assert!(is_zombie("Name:\tx\nState:\tZ (zombie)\n"));
        assert!(!is_zombie("Name:\tx\nState:\tS (sleeping)\n"));
    }

    #[test]
    fn only_a_live_process_running_the_components_program_counts() {
        let dir = std::env::temp_dir().join(format!("ops-local-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pids")).unwrap();
        let l = Local {
            run_dir: dir.clone(),
            ..local(0)
        };
        let me = std::process::id().to_string();
        // This test's own process runs no redis-server.
        std::fs::write(l.pid_file("redis-stock-1"), &me).unwrap();
        std::fs::write(l.pid_file("stock-1"), "not a pid").unwrap();
        assert_eq!(l.running_pid("redis-stock-1"), None);
        assert_eq!(l.running_pid("stock-1"), None);
        assert_eq!(l.running_pid("order-1"), None);
        assert_eq!(l.recorded().unwrap(), vec!["redis-stock-1", "stock-1"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
