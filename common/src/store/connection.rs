//! The connection's life cycle: one cluster connection per service, opened lazily
//! within `REDIS_TIMEOUT_MS` by the first request that needs it (the others wait for
//! it), and replaced by a fresh one opened in the background after a node failure or
//! when the cluster announces a new master for some slots (a failover).
//!
//! The old connection serves until its successor is open: opening a cluster connection
//! waits for every seed node to answer or time out, so a node that accepts connections
//! but never answers (a paused process, a frozen VM) would otherwise hold up every
//! request of the service, on every shard, for as long as it sleeps. A successor opened
//! because of a failover is seeded with the masters the cluster announces now, which
//! leaves out the node that was failed over.
//!
//! Every connection has a generation; once a successor is installed, the calls still
//! waiting on an older one give up at once ([`Connection::replaced`]) and are sent again
//! on the new one: a call waiting for a paused master would otherwise wait out its whole
//! `REDIS_TIMEOUT_MS` after the cluster has promoted its replica.
//!
//! It never retries: a failure to open is the caller's to retry or report.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};
use tokio::sync::watch;

use super::metrics::{ErrorKind, StoreMetrics};
use super::topology::Node;
use super::StoreError;

/// A connection that met a dead or unreachable node is replaced by a fresh one (which
/// learns the slots anew) once it is this old: the crate keeps a slot map that points
/// at a dead master until a node answers MOVED, which a dead node never does, so after
/// a failover a new connection finds the promoted replica sooner.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// A successor connection may take this many times `REDIS_TIMEOUT_MS` to open: each seed
/// node that does not answer costs up to the client's connection timeout.
const REPLACE_BOUND: u32 = 3;

/// Makes a cluster client from seed nodes, with the service's settings.
pub(super) type MakeClient =
    dyn Fn(Vec<ConnectionInfo>) -> redis::RedisResult<ClusterClient> + Send + Sync;

/// The shared connection (the crate's cluster connection reconnects to nodes itself),
/// and the lock that lets one request open it while the others wait.
#[derive(Clone)]
pub(super) struct Connection {
    /// The client seeded with every node of `REDIS_URL`.
    client: ClusterClient,
    /// The first seed's settings (credentials, database), for seeds the cluster names.
    base: ConnectionInfo,
    make: Arc<MakeClient>,
    timeout: Duration,
    link: Arc<Link>,
    metrics: StoreMetrics,
}

struct Link {
    /// The connection, when it was opened, and its generation.
    open: RwLock<Option<(Instant, u64, ClusterConnection)>>,
    opening: tokio::sync::Mutex<()>,
    /// The generation of the last installed connection.
    generation: watch::Sender<u64>,
    /// A successor is being opened in the background.
    replacing: std::sync::atomic::AtomicBool,
    /// The masters a failover announced while a successor was already being opened
    /// (possibly from the map before it): the next successor is seeded with them.
    again: Mutex<Option<Vec<Node>>>,
    /// Wakes a successor being opened when a failover is announced: it starts over,
    /// seeded with the new masters (the old seeds may hold the paused master, which
    /// costs the whole connection timeout).
    announced: tokio::sync::Notify,
}

impl Connection {
    /// `url`: `REDIS_URL`, one node's URL or several, comma-separated (every one a seed).
    pub(super) fn new(
        url: &str,
        make: Arc<MakeClient>,
        timeout: Duration,
        metrics: StoreMetrics,
    ) -> Result<Self, StoreError> {
        let invalid =
            |e: redis::RedisError| StoreError::Unavailable(format!("invalid REDIS_URL: {e}"));
        let seeds = url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| u.into_connection_info().map_err(invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let base = seeds
            .first()
            .cloned()
            .ok_or_else(|| StoreError::Unavailable("REDIS_URL names no node".into()))?;
        let client = make(seeds).map_err(invalid)?;
        Ok(Connection {
            client,
            base,
            make,
            timeout,
            link: Arc::new(Link {
                open: RwLock::new(None),
                opening: tokio::sync::Mutex::new(()),
                generation: watch::Sender::new(0),
                replacing: std::sync::atomic::AtomicBool::new(false),
                again: Mutex::new(None),
                announced: tokio::sync::Notify::new(),
            }),
            metrics,
        })
    }

    /// The shared cluster connection, opened within the bound on first use.
    pub(super) async fn get(&self) -> Result<ClusterConnection, StoreError> {
        if let Some(conn) = self.open() {
            return Ok(conn);
        }
        let start = Instant::now();
        let _opening = self.link.opening.lock().await;
        if let Some(conn) = self.open() {
            return Ok(conn);
        }
        let conn = self.open_new(&self.client, self.timeout).await;
        self.metrics.pool_wait(start.elapsed().as_secs_f64());
        let conn = conn?;
        self.install(conn.clone());
        Ok(conn)
    }

    /// `REDIS_URL`'s first node's settings (credentials, database).
    pub(super) fn base(&self) -> ConnectionInfo {
        self.base.clone()
    }

    /// The generation of the connection [`Connection::get`] hands out now.
    pub(super) fn generation(&self) -> u64 {
        *self.link.generation.borrow()
    }

    /// Resolves once a connection newer than `generation` is installed.
    pub(super) async fn replaced(&self, generation: u64) {
        let mut installed = self.link.generation.subscribe();
        // The sender lives as long as `self`: this ends only by a new generation.
        let _ = installed.wait_for(|&now| now != generation).await;
    }

    /// Opens a new cluster connection of `client` within `bound`.
    async fn open_new(
        &self,
        client: &ClusterClient,
        bound: Duration,
    ) -> Result<ClusterConnection, StoreError> {
        match tokio::time::timeout(bound, client.get_async_connection()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => {
                self.metrics.error(ErrorKind::Pool);
                Err(StoreError::Unavailable(format!(
                    "redis cluster is unreachable: {e}"
                )))
            }
            Err(_) => {
                self.metrics.error(ErrorKind::Pool);
                Err(StoreError::Unavailable(format!(
                    "redis cluster did not answer within {} ms",
                    bound.as_millis()
                )))
            }
        }
    }

    fn install(&self, conn: ClusterConnection) {
        let mut open = self.link.open.write().unwrap_or_else(|e| e.into_inner());
        let generation = self.generation() + 1;
        *open = Some((Instant::now(), generation, conn));
        self.link.generation.send_replace(generation);
    }

    /// The installed connection, if one is open (never waits).
    pub(super) fn open(&self) -> Option<ClusterConnection> {
        self.link
            .open
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, _, conn)| conn.clone())
    }

    /// Replaces the shared connection if it is older than [`RECONNECT_AFTER`]: a new
    /// one is opened in the background (one at a time, within [`REPLACE_BOUND`] times
    /// the timeout) while the old one goes on serving, and takes its place once open.
    pub(super) fn reconnect(&self) {
        let due = self
            .link
            .open
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|(at, _, _)| at.elapsed() >= RECONNECT_AFTER);
        if due {
            self.replace();
        }
    }

    /// The cluster announces other masters than before (`masters`, a failover): the
    /// connection, whose slot map may point at the old master, is replaced at once by
    /// one seeded with them. When a successor is already being opened, one more follows it.
    pub(super) fn failed_over(&self, masters: &[Node]) {
        if self.open().is_none() {
            return;
        }
        tracing::debug!(
            ?masters,
            "the redis cluster has new masters: replacing the connection"
        );
        self.announced_masters(|again| *again = Some(masters.to_vec()));
        self.link.announced.notify_one();
        self.replace();
    }

    /// Opens successors in the background, one at a time, each seeded with the masters
    /// of the last failover announced (or every node of `REDIS_URL` before any), until
    /// no failover is waiting for one.
    fn replace(&self) {
        use std::sync::atomic::Ordering;
        if self.link.replacing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut masters = None;
            loop {
                masters = this.announced_masters(|again| again.take()).or(masters);
                let client = masters.as_deref().and_then(|m| this.seeded(m));
                let client = client.as_ref().unwrap_or(&this.client);
                tracing::debug!("replacing the redis cluster connection");
                let bound = this.timeout * REPLACE_BOUND;
                tokio::select! {
                    opened = this.open_new(client, bound) => match opened {
                        Ok(conn) => this.install(conn),
                        Err(e) => tracing::debug!(
                            error = %e,
                            "replacing the redis cluster connection failed"
                        ),
                    },
                    // A failover: start over, seeded with its masters.
                    () = this.link.announced.notified() => continue,
                }
                if !this.announced_masters(|again| again.is_some()) {
                    break;
                }
            }
            this.link.replacing.store(false, Ordering::Release);
            // A failover announced between the check above and now would wait for the
            // next one: look once more.
            if this.announced_masters(|again| again.is_some()) {
                this.replace();
            }
        });
    }

    /// `look` at the masters a failover announced that no successor was opened for yet.
    fn announced_masters<T>(&self, look: impl FnOnce(&mut Option<Vec<Node>>) -> T) -> T {
        look(&mut self.link.again.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A client seeded with `masters`, with the settings of `REDIS_URL`'s first node;
    /// `None` when the cluster named one without an address, `REDIS_URL` is not plain
    /// TCP, or the client cannot be made.
    fn seeded(&self, masters: &[Node]) -> Option<ClusterClient> {
        let known = |m: &Node| !m.host.is_empty() && m.host != "?";
        let plain = matches!(self.base.addr(), ConnectionAddr::Tcp(..));
        if !plain || masters.is_empty() || !masters.iter().all(known) {
            return None;
        }
        let seeds = masters
            .iter()
            .map(|m| {
                let addr = ConnectionAddr::Tcp(m.host.clone(), m.port);
                self.base.clone().set_addr(addr)
            })
            .collect();
        (self.make)(seeds).ok()
    }
}
