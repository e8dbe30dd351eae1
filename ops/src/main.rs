//! `ops`: the command line of the operations library (see `lib.rs`). Each command group is
//! a module of the library with its own `clap::Args`; this file only parses and dispatches.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("usage: ops <command> (no commands yet)")
}
