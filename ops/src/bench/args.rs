//! The settings of `ops bench run`: each one an option and the environment variable that
//! `make bench`, `stress-test/ab.sh` and the old `bench.sh` used.

use super::populate::Population;
use clap::builder::BoolishValueParser;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The gateway (default: http://127.0.0.1:8000 + PORT_OFFSET).
    #[arg(long, env = "GATEWAY")]
    pub gateway: Option<String>,
    /// Seconds per wrk run.
    #[arg(long, env = "BENCH_SECONDS", default_value_t = 10)]
    pub seconds: u64,
    /// Connection counts, one round of runs each.
    #[arg(long, env = "BENCH_CONNECTIONS", default_value = "16 64 256")]
    pub connections: Words<u32>,
    /// fresh (every request a first checkout) and/or random (repeats included).
    #[arg(long, env = "BENCH_MODES", default_value = "fresh random")]
    pub modes: Words<Mode>,
    /// wrk threads (at most the connection count).
    #[arg(long, env = "BENCH_THREADS", default_value_t = 2)]
    pub threads: u32,
    #[command(flatten)]
    pub population: Population,
    /// Checkouts per second assumed when sizing the fresh orders.
    #[arg(long, env = "BENCH_FRESH_RATE", default_value_t = 8000)]
    pub fresh_rate: u64,
    /// Orders after the extra batch_init (default: BENCH_ORDERS + BENCH_FRESH_RATE *
    /// BENCH_SECONDS * the number of fresh runs).
    #[arg(long, env = "FRESH_ORDERS")]
    pub fresh_orders: Option<u64>,
    /// Run the gateway-alone and one-hop ceilings (1) or not (0).
    #[arg(long, env = "BENCH_CEILINGS", default_value = "1", action = clap::ArgAction::Set,
          value_parser = BoolishValueParser::new())]
    pub ceilings: bool,
    /// Users and items checked through the API.
    #[arg(long, env = "BENCH_SAMPLE", default_value_t = 50)]
    pub sample: usize,
    /// The stack's appendfsync (a label of the table only).
    #[arg(long, env = "REDIS_FSYNC", default_value = crate::cluster::rules::FSYNC)]
    pub fsync: String,
    /// Where the table is written (default: stress-test/results/bench.md).
    #[arg(long, env = "BENCH_OUT")]
    pub out: Option<PathBuf>,
    /// Append per-component CPU and per-cluster Redis command costs of each fresh run here.
    #[arg(long, env = "BENCH_PROFILE")]
    pub profile: Option<PathBuf>,
    /// The folder of wrk's checkout.lua and the ceiling nginx's ceiling.conf (default:
    /// stress-test/bench of the repository).
    #[arg(long, env = "BENCH_SCRIPTS")]
    pub scripts: Option<PathBuf>,
    /// Service replicas of the stack (labels of the table only).
    #[arg(long, env = "ORDER_REPLICAS", default_value_t = 2)]
    pub order_replicas: u32,
    #[arg(long, env = "STOCK_REPLICAS", default_value_t = 2)]
    pub stock_replicas: u32,
    #[arg(long, env = "PAYMENT_REPLICAS", default_value_t = 2)]
    pub payment_replicas: u32,
}

impl RunArgs {
    /// The orders that exist after the extra batch_init: ids `orders..` are the fresh runs'.
    pub fn fresh_orders(&self) -> u64 {
        let fresh_runs = if self.modes.0.contains(&Mode::Fresh) {
            self.connections.0.len() as u64
        } else {
            0
        };
        self.fresh_orders
            .unwrap_or(self.population.orders + self.fresh_rate * self.seconds * fresh_runs)
    }

    /// The profile file, if one is named (an empty `BENCH_PROFILE` names none).
    pub fn profile(&self) -> Option<&PathBuf> {
        self.profile.as_ref().filter(|p| !p.as_os_str().is_empty())
    }

    /// wrk's threads at `connections` connections.
    pub fn threads_at(&self, connections: u32) -> u32 {
        self.threads.min(connections)
    }
}

/// How a run picks its order ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each wrk thread walks its own never-checked-out ids.
    Fresh,
    /// Random ids of the populated orders, repeats included.
    Random,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Fresh => "fresh",
            Mode::Random => "random",
        })
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "fresh" => Ok(Mode::Fresh),
            "random" => Ok(Mode::Random),
            other => Err(format!("mode {other:?} must be fresh or random")),
        }
    }
}

/// A list written as words separated by white space (`"16 64 256"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words<T>(pub Vec<T>);

impl<T: FromStr> FromStr for Words<T>
where
    T::Err: fmt::Display,
{
    type Err = String;
    fn from_str(s: &str) -> Result<Words<T>, String> {
        s.split_whitespace()
            .map(|w| w.parse().map_err(|e| format!("{w:?}: {e}")))
            .collect::<Result<Vec<T>, String>>()
            .map(Words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn lists_are_words_and_a_bad_word_is_named() {
        let w: Words<u32> = " 16  64 256 ".parse().unwrap();
        assert_eq!(w, Words(vec![16, 64, 256]));
        let e = "16 x".parse::<Words<u32>>().unwrap_err();
        assert!(e.starts_with("\"x\""), "{e}");
        let m: Words<Mode> = "random fresh".parse().unwrap();
        assert_eq!(m, Words(vec![Mode::Random, Mode::Fresh]));
        assert!("fresh rnd".parse::<Words<Mode>>().is_err());
    }

    #[test]
    fn fresh_orders_cover_every_fresh_run_at_the_assumed_rate() {
        let cli = Cli::parse_from([
            "b",
            "--orders",
            "1000",
            "--seconds",
            "2",
            "--fresh-rate",
            "20000",
            "--connections",
            "16 64",
        ]);
        assert_eq!(cli.run.fresh_orders(), 1000 + 20000 * 2 * 2);
        assert_eq!(cli.run.threads_at(1), 1);
        assert_eq!(cli.run.threads_at(64), 2);
        let random = Cli::parse_from(["b", "--orders", "1000", "--modes", "random"]);
        assert_eq!(random.run.fresh_orders(), 1000);
        let given = Cli::parse_from(["b", "--fresh-orders", "5"]);
        assert_eq!(given.run.fresh_orders(), 5);
        let off = Cli::parse_from(["b", "--ceilings", "0"]);
        assert!(!off.run.ceilings);
    }
}
