//! The command line, parsed once into a `Config` whose values are all valid.
//!
//! Hand-rolled (no clap) so the crate only uses the workspace's dependencies.

use crate::phase::Phase;
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: consistency-test [OPTIONS]

  --url URL                  gateway (default http://127.0.0.1:8000)
  --items N                  items to create (default 1)
  --users N                  users = orders to create (default 1000)
  --stock-per-item N         stock added to every item (default 100)
  --setup-concurrency N      set-up and read requests in flight (default 64)
  --request-timeout-secs N   client timeout of one set-up write or read (default 60)
  --checkout-timeout-secs N  client timeout of one checkout (default 300)
  --max-in-flight N          checkouts in flight at once, 0 = all (default 0)
  --rounds K                 repeat setup + run + verify K times (default 1)
  --settle-secs N            quiet pause before the final reads (default 0, 10 with
                             chaos: the reads are done once under chaos, then the chaos
                             stops, and after N s everything is read again and judged;
                             0 with chaos: the reads under chaos are judged)
  --recovery-secs N          keep re-reading this long while the state is inconsistent
                             (default 0)
  --idempotency-keys         send a unique Idempotency-Key with every write and repeat
                             --repeat-percent of them with the same key (default: no keys,
                             as the course's test)
  --repeat-percent N         writes repeated with their key (default 10, 0..=100)
  --chaos                    kill/restart local components during every phase
  --run-dir DIR              the local stack's run folder (default ./run)
  --stack-script PATH        the local stack script (default env/local/stack.sh)
  --chaos-docker             kill/restart docker compose containers instead
  --docker-project NAME      compose project for --chaos-docker
  --chaos-max-secs N         stop the chaos after this long at the latest (default 600)
  --chaos-phases LIST        the phases the chaos kills in, comma-separated (default all:
                             create-items,add-stock,create-users,add-funds,create-orders,
                             additem,checkout,verify); e.g. checkout for the graders'
                             failure test (kills only while the checkouts run)
  --chaos-passes N           stop the chaos after N passes over the victims (each pass
                             kills every victim once, in a random order; default: no
                             bound but --chaos-max-secs)
  --failover-secs N          a killed Redis Cluster master stays down this long, so that
                             its replica takes over, before it is started again (default 3;
                             0: restarted after 100-300 ms like every other victim)
  -h, --help                 this text";

/// How components are killed during the round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChaosMode {
    None,
    Local {
        run_dir: PathBuf,
        stack_script: PathBuf,
    },
    Docker {
        project: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    pub items: usize,
    pub users: usize,
    pub stock_per_item: i64,
    pub setup_concurrency: usize,
    pub request_timeout_secs: u64,
    pub idempotency_keys: bool,
    pub repeat_percent: u8,
    pub checkout_timeout_secs: u64,
    pub max_in_flight: usize,
    pub rounds: usize,
    pub settle_secs: u64,
    pub recovery_secs: u64,
    pub chaos: ChaosMode,
    pub chaos_max_secs: u64,
    /// The phases the chaos kills in.
    pub chaos_phases: Vec<Phase>,
    /// The chaos ends after this many passes over its victims.
    pub chaos_passes: Option<usize>,
    pub failover_secs: u64,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| anyhow!("{flag} \"{value}\" must be a non-negative integer"))
}

/// `checkout,verify`: phases by name, `-` for a space.
fn phases(list: &str) -> Result<Vec<Phase>> {
    list.split(',')
        .map(|name| {
            Phase::from_name(name.trim())
                .with_context(|| format!("--chaos-phases: \"{name}\" is no phase"))
        })
        .collect()
}

impl Config {
    /// `Ok(None)` when help was asked for.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Option<Config>> {
        let mut url = "http://127.0.0.1:8000".to_string();
        let (mut items, mut users, mut stock, mut setup_conc) = (1usize, 1000usize, 100i64, 64);
        let (mut timeout, mut max_in_flight, mut rounds) = (300u64, 0usize, 1usize);
        let (mut settle, mut recovery, mut chaos_max) = (None, 0u64, 600u64);
        let mut failover = 3u64;
        let mut chaos_phases = Phase::ALL.to_vec();
        let mut chaos_passes = None;
        let (mut request_timeout, mut keys, mut repeat_percent) = (60u64, false, 10u8);
        let (mut local, mut docker) = (false, false);
        let mut run_dir = PathBuf::from("run");
        let mut stack_script = PathBuf::from("env/local/stack.sh");
        let mut project: Option<String> = None;

        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--url" => url = value()?.trim_end_matches('/').to_string(),
                "--items" => items = number(&flag, &value()?)?,
                "--users" => users = number(&flag, &value()?)?,
                "--stock-per-item" => stock = number(&flag, &value()?)?,
                "--setup-concurrency" => setup_conc = number(&flag, &value()?)?,
                "--checkout-timeout-secs" => timeout = number(&flag, &value()?)?,
                "--max-in-flight" => max_in_flight = number(&flag, &value()?)?,
                "--rounds" => rounds = number(&flag, &value()?)?,
                "--settle-secs" => settle = Some(number(&flag, &value()?)?),
                "--recovery-secs" => recovery = number(&flag, &value()?)?,
                "--chaos-max-secs" => chaos_max = number(&flag, &value()?)?,
                "--failover-secs" => failover = number(&flag, &value()?)?,
                "--chaos-phases" => chaos_phases = phases(&value()?)?,
                "--chaos-passes" => chaos_passes = Some(number(&flag, &value()?)?),
                "--request-timeout-secs" => request_timeout = number(&flag, &value()?)?,
                "--idempotency-keys" => keys = true,
                "--repeat-percent" => repeat_percent = number(&flag, &value()?)?,
                "--chaos" => local = true,
                "--chaos-docker" => docker = true,
                "--run-dir" => run_dir = PathBuf::from(value()?),
                "--stack-script" => stack_script = PathBuf::from(value()?),
                "--docker-project" => project = Some(value()?),
                other => bail!("unknown argument \"{other}\""),
            }
        }
        if items == 0 || users == 0 || rounds == 0 || setup_conc == 0 {
            bail!("--items, --users, --rounds and --setup-concurrency must be at least 1");
        }
        if repeat_percent > 100 {
            bail!("--repeat-percent \"{repeat_percent}\" must be at most 100");
        }
        if request_timeout == 0 {
            bail!("--request-timeout-secs must be at least 1");
        }
        if stock < 0 {
            bail!("--stock-per-item \"{stock}\" must be non-negative");
        }
        let chaos = match (local, docker) {
            (true, true) => bail!("--chaos and --chaos-docker exclude each other"),
            (true, false) => ChaosMode::Local {
                run_dir,
                stack_script,
            },
            (false, true) => ChaosMode::Docker {
                project: project.context("--chaos-docker needs --docker-project NAME")?,
            },
            (false, false) => ChaosMode::None,
        };
        let settle_secs = settle.unwrap_or(if chaos == ChaosMode::None { 0 } else { 10 });
        Ok(Some(Config {
            url,
            items,
            users,
            stock_per_item: stock,
            setup_concurrency: setup_conc,
            request_timeout_secs: request_timeout,
            idempotency_keys: keys,
            repeat_percent,
            checkout_timeout_secs: timeout,
            max_in_flight,
            rounds,
            settle_secs,
            recovery_secs: recovery,
            chaos,
            chaos_max_secs: chaos_max,
            chaos_phases,
            chaos_passes,
            failover_secs: failover,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Config>> {
        Config::from_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_are_the_course_scenario() {
        let c = parse(&[]).unwrap().unwrap();
        assert_eq!((c.items, c.users, c.stock_per_item), (1, 1000, 100));
        assert_eq!(c.chaos, ChaosMode::None);
        assert!(!c.idempotency_keys, "the course's test sends no keys");
    }

    #[test]
    fn keys_repeat_a_tenth_unless_told() {
        let c = parse(&["--idempotency-keys"]).unwrap().unwrap();
        assert!(c.idempotency_keys);
        assert_eq!(c.repeat_percent, 10);
        assert!(parse(&["--repeat-percent", "101"]).is_err());
    }

    #[test]
    fn chaos_docker_needs_a_project() {
        assert!(parse(&["--chaos-docker"]).is_err());
        let c = parse(&["--chaos-docker", "--docker-project", "p"])
            .unwrap()
            .unwrap();
        assert_eq!(
            c.chaos,
            ChaosMode::Docker {
                project: "p".into()
            }
        );
    }

    #[test]
    fn a_killed_master_stays_down_3_s_unless_told() {
        assert_eq!(
            parse(&[]).unwrap().unwrap().chaos_phases,
            Phase::ALL.to_vec()
        );
        let c = parse(&["--chaos-phases", "checkout,add-funds"])
            .unwrap()
            .unwrap();
        assert_eq!(c.chaos_phases, vec![Phase::Checkout, Phase::AddFunds]);
        assert!(parse(&["--chaos-phases", "checkouts"]).is_err());
        assert_eq!(parse(&[]).unwrap().unwrap().chaos_passes, None);
        let c = parse(&["--chaos-passes", "1"]).unwrap().unwrap();
        assert_eq!(c.chaos_passes, Some(1));
        assert_eq!(parse(&[]).unwrap().unwrap().failover_secs, 3);
        let c = parse(&["--failover-secs", "0"]).unwrap().unwrap();
        assert_eq!(c.failover_secs, 0);
    }

    #[test]
    fn fractional_numbers_are_refused() {
        assert!(parse(&["--users", "1.5"]).is_err());
    }
}
