//! The sharded bulk writer of `batch_init`: many overwrites spread over the cluster's
//! masters in pipelines, each acknowledged on a replica like any write.

use futures::StreamExt;
use redis::{Cmd, Pipeline};

use super::retry::Patience;
use super::{slot_of, RedisStore, StoreError};

/// How many writes one pipeline carries.
const CHUNK: usize = 2000;
/// How many pipelines of one master are in flight at once.
const IN_FLIGHT: usize = 2;

impl RedisStore {
    /// Writes `(key, command)` pairs (overwrites, safe to send again) spread over the
    /// cluster: pipelines of 2000 with `WAIT 1` after each, two in flight per master,
    /// masters in parallel. A chunk that fails (a moved slot, no answer in time) is sent
    /// again after the topology is learnt again, within `REDIS_WAIT_MS`.
    pub async fn write_spread(&self, writes: Vec<(String, Cmd)>) -> Result<(), StoreError> {
        let mut patience = Patience::new(self.wait);
        let mut pending: Vec<(u16, Cmd)> = writes
            .into_iter()
            .map(|(key, cmd)| (slot_of(key.as_bytes()), cmd))
            .collect();
        while !pending.is_empty() {
            if let Err(e) = self.spread_once(&mut pending).await {
                self.pause(&mut patience, e).await?;
            }
        }
        Ok(())
    }

    /// Sends every pending write once, leaving in `pending` those of the chunks that
    /// failed (and the last failure as the error).
    async fn spread_once(&self, pending: &mut Vec<(u16, Cmd)>) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let map = self
            .bounded(self.topology.current(conn.clone(), false))
            .await?;
        let mut by_node: Vec<Vec<(u16, Cmd)>> = vec![Vec::new(); map.nodes.len()];
        for (slot, cmd) in pending.drain(..) {
            by_node[map.owner(slot)].push((slot, cmd));
        }
        // Each master gets its chunks two at a time, so that one chunk's time bound
        // covers that chunk's own work, not the queue of chunks sent before it.
        let sends = by_node.into_iter().enumerate().map(|(node, writes)| {
            let (map, conn) = (&map, &conn);
            let chunks: Vec<Vec<(u16, Cmd)>> = writes.chunks(CHUNK).map(<[_]>::to_vec).collect();
            futures::stream::iter(chunks)
                .map(move |chunk| async move {
                    let mut pipe = Pipeline::with_capacity(chunk.len() + 1);
                    for (_, cmd) in &chunk {
                        pipe.add_command(cmd.clone()).ignore();
                    }
                    let sent = self
                        .bounded(self.replicas.write_pipeline(
                            conn.clone(),
                            map.nodes[node].clone(),
                            chunk[0].0,
                            pipe,
                        ))
                        .await;
                    sent.map_err(|e| (e, chunk))
                })
                .buffer_unordered(IN_FLIGHT)
                .collect::<Vec<_>>()
        });
        let mut last = None;
        for result in futures::future::join_all(sends).await.into_iter().flatten() {
            if let Err((e, chunk)) = result {
                pending.extend(chunk);
                last = Some(e);
            }
        }
        match last {
            Some(e) => {
                self.topology.invalidate();
                Err(e)
            }
            None => Ok(()),
        }
    }
}
