//! One call of a Lua script: its keys and arguments, as the `redis` crate's
//! `ScriptInvocation` holds them, but with what a cluster write needs from outside:
//! the slot its keys hash to, and the `EVALSHA` command itself, so that the store can
//! send it in one pipeline with the replication wait after it.

use redis::{Cmd, RedisResult, Script, ToRedisArgs};

use super::slot_of;

pub struct Invocation<'a> {
    script: &'a Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl<'a> Invocation<'a> {
    pub fn new(script: &'a Script) -> Self {
        Invocation {
            script,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Adds a key (`KEYS[i]`). Every key of one call must hash to the same slot.
    pub fn key(&mut self, key: impl ToRedisArgs) -> &mut Self {
        key.write_redis_args(&mut self.keys);
        self
    }

    /// Adds an argument (`ARGV[i]`).
    pub fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        arg.write_redis_args(&mut self.args);
        self
    }

    /// The slot of the first key (a script with no key runs on slot 0's master).
    pub fn slot(&self) -> u16 {
        self.keys.first().map_or(0, |key| slot_of(key))
    }

    /// `EVALSHA sha numkeys keys... args...`
    pub fn evalsha(&self) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash()).arg(self.keys.len());
        for key in &self.keys {
            cmd.arg(key.as_slice());
        }
        for arg in &self.args {
            cmd.arg(arg.as_slice());
        }
        cmd
    }

    /// `SCRIPT LOAD` of the script (on every node, as the cluster client routes it).
    pub async fn load(&self, conn: &mut impl redis::aio::ConnectionLike) -> RedisResult<()> {
        self.script
            .prepare_invoke()
            .load_async(conn)
            .await
            .map(drop)
    }
}
