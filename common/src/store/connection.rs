//! The connection's life cycle: one cluster connection per service, opened lazily
//! within `REDIS_TIMEOUT_MS` by the first request that needs it (the others wait for
//! it), and dropped after a node failure so that the next call opens a fresh one.
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
        let opened = tokio::time::timeout(self.timeout, self.client.get_async_connection()).await;
        self.metrics.pool_wait(start.elapsed().as_secs_f64());
        let conn = match opened {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                self.metrics.error(ErrorKind::Pool);
                return Err(StoreError::Unavailable(format!(
                    "redis cluster is unreachable: {e}"
                )));
            }
            Err(_) => {
                self.metrics.error(ErrorKind::Pool);
                return Err(StoreError::Unavailable(format!(
                    "redis cluster did not answer within {} ms",
                    self.timeout.as_millis()
                )));
            }
        };
        *self.link.open.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), conn.clone()));
        Ok(conn)
    }

    fn open(&self) -> Option<ClusterConnection> {
        self.link
            .open
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, conn)| conn.clone())
    }

    /// Drops the shared connection if it is older than [`RECONNECT_AFTER`]: the next
    /// call opens a new one.
    pub(super) fn reconnect(&self) {
        let mut open = self.link.open.write().unwrap_or_else(|e| e.into_inner());
        if open
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() >= RECONNECT_AFTER)
        {
            tracing::debug!("replacing the redis cluster connection after a node failure");
            *open = None;
        }
    }
}
