//! The order records: creating an order, reading it, adding and removing lines, and
//! batch_init's many orders. Each public write is applied once per idempotency key.

use std::collections::BTreeMap;

use common::idempotency::{self, IdempotencyKey};
use common::params::Id;
use common::store::Invocation;
use common::{entity, StoreError};

use super::records::{order_fields, parse_edit, parse_order, Edit, Order};
use super::{order_key, OrderStore, BATCH_RECORD};

impl OrderStore {
    /// Creates an empty order for `user` and returns its id, which is the idempotency
    /// key's own: a repeat answers the same id and creates nothing.
    pub async fn create(&self, idem: &IdempotencyKey, user: &Id) -> Result<Id, StoreError> {
        let fields = order_fields(&Order::new(user.clone()));
        entity::create(&self.redis, "order create", idem, order_key, &fields).await
    }

    pub async fn get(&self, id: &Id) -> Result<Option<Order>, StoreError> {
        let fields: BTreeMap<String, String> = self
            .redis
            .query_retrying(redis::cmd("HGETALL").arg(order_key(id)))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_order(id, &fields).map(Some)
    }

    pub async fn add_item(
        &self,
        idem: &IdempotencyKey,
        id: &Id,
        item: &Id,
        qty: i64,
        cost: i64,
    ) -> Result<Edit, StoreError> {
        let key = order_key(id);
        let mut inv = Invocation::new(&self.scripts.add_item);
        inv.key(&key).arg(item.as_str()).arg(qty).arg(cost);
        self.edit("order addItem", idem, &key, inv).await
    }

    pub async fn remove_item(
        &self,
        idem: &IdempotencyKey,
        id: &Id,
        item: &Id,
    ) -> Result<Edit, StoreError> {
        let key = order_key(id);
        let mut inv = Invocation::new(&self.scripts.remove_item);
        inv.key(&key).arg(item.as_str());
        self.edit("order removeItem", idem, &key, inv).await
    }

    /// Runs an edit script of the order at `key`, once per idempotency key.
    async fn edit(
        &self,
        write: &'static str,
        idem: &IdempotencyKey,
        key: &str,
        mut inv: Invocation<'_>,
    ) -> Result<Edit, StoreError> {
        idem.bind(&mut inv, key, self.redis.idempotency_ttl());
        let reply: Vec<String> = self.redis.run_script_retrying(&inv).await?;
        match idempotency::answer(write, idem, reply)?.parts.as_slice() {
            [answer] => parse_edit(answer),
            other => Err(StoreError::Corrupt(format!("{write} answered {other:?}"))),
        }
    }

    /// Writes `orders` (overwriting them) spread over the cluster's masters, once per
    /// idempotency key ([`entity::batch_init`]): a repeat while the first is half done
    /// writes other random orders over the same ids, which nobody has been answered
    /// about yet.
    pub async fn batch_init(
        &self,
        idem: &IdempotencyKey,
        orders: impl Iterator<Item = (Id, Order)>,
    ) -> Result<(), StoreError> {
        let hashes = orders.map(|(id, order)| (order_key(&id), order_fields(&order)));
        entity::batch_init(&self.redis, "order batch_init", idem, BATCH_RECORD, hashes).await
    }
}
