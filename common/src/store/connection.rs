//! The connection's life cycle: one cluster connection per service, opened lazily
//! within `REDIS_TIMEOUT_MS` by the first request that needs it (the others wait for
//! it), and replaced after a node failure by a fresh one opened in the background.
//!
//! The old connection serves until its successor is open: opening a cluster connection
//! waits for every seed node to answer or time out, so a node that accepts connections
//! but never answers (a paused process, a frozen VM) would otherwise hold up every
//! request of the service, on every shard, for as long as it sleeps.
//!
//! It never retries: a failure to open is the caller's to retry or report.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

use super::metrics::{ErrorKind, StoreMetrics};
use super::StoreError;

/// A connection that met a dead or unreachable node is replaced by a fresh one (which
/// learns the slots anew) once it is this old: the crate keeps a slot map that points
/// at a dead master until a node answers MOVED, which a dead node never does, so after
/// a failover a new connection finds the promoted replica sooner.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// A successor connection may take this many times `REDIS_TIMEOUT_MS` to open: each seed
/// node that does not answer costs up to the client's connection timeout.
const REPLACE_BOUND: u32 = 3;

/// The shared connection (the crate's cluster connection reconnects to nodes itself),
/// and the lock that lets one request open it while the others wait.
#[derive(Clone)]
pub(super) struct Connection {
    client: ClusterClient,
    timeout: Duration,
    link: Arc<Link>,
    metrics: StoreMetrics,
}

#[derive(Default)]
struct Link {
    open: RwLock<Option<(Instant, ClusterConnection)>>,
    opening: tokio::sync::Mutex<()>,
    /// A successor is being opened in the background.
    replacing: std::sync::atomic::AtomicBool,
}

impl Connection {
    pub(super) fn new(client: ClusterClient, timeout: Duration, metrics: StoreMetrics) -> Self {
        Connection {
            client,
            timeout,
            link: Arc::new(Link::default()),
            metrics,
        }
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
        let conn = self.open_new(self.timeout).await;
        self.metrics.pool_wait(start.elapsed().as_secs_f64());
        let conn = conn?;
        self.install(conn.clone());
        Ok(conn)
    }

    /// Opens a new cluster connection within `bound`.
    async fn open_new(&self, bound: Duration) -> Result<ClusterConnection, StoreError> {
        match tokio::time::timeout(bound, self.client.get_async_connection()).await {
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
        *self.link.open.write().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), conn));
    }

    fn open(&self) -> Option<ClusterConnection> {
        self.link
            .open
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, conn)| conn.clone())
    }

    /// Replaces the shared connection if it is older than [`RECONNECT_AFTER`]: a new
    /// one is opened in the background (one at a time, within [`REPLACE_BOUND`] times
    /// the timeout) while the old one goes on serving, and takes its place once open.
    pub(super) fn reconnect(&self) {
        use std::sync::atomic::Ordering;
        let due = self
            .link
            .open
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() >= RECONNECT_AFTER);
        if !due || self.link.replacing.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::debug!("replacing the redis cluster connection after a node failure");
        let this = self.clone();
        tokio::spawn(async move {
            match this.open_new(this.timeout * REPLACE_BOUND).await {
                Ok(conn) => this.install(conn),
                Err(e) => {
                    tracing::debug!(error = %e, "replacing the redis cluster connection failed")
                }
            }
            this.link.replacing.store(false, Ordering::Release);
        });
    }
}
