//! `ops`: the command line of the operations library (see `lib.rs`).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("usage: ops <command> (no commands yet)")
}
