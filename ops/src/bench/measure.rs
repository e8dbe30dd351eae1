//! The measured part of a benchmark: per connection count the two ceilings, then each
//! mode's checkouts, every run a wrk process, with the machine's CPU time around it and,
//! when `BENCH_PROFILE` names a file, the profile of each fresh run.

use super::args::{Mode, RunArgs};
use super::ceiling::Ceiling;
use super::error::Result;
use super::machine::{busy_ticks, clock_ticks};
use super::profile::Profile;
use super::run::{log, peaks};
use super::table::Row;
use super::wrk::{self, Load, Outcome};
use crate::stack::{local::Local, Cluster};
use std::path::PathBuf;

/// The ids of the ceilings' random runs.
const CEILING_IDS: u64 = 100_000;

/// What every wrk run shares.
pub struct Bench<'a> {
    pub args: &'a RunArgs,
    pub local: &'a Local,
    pub clusters: &'a [Cluster],
    pub script: PathBuf,
}

/// What the runs gave.
pub struct Measured {
    pub rows: Vec<String>,
    pub ceilings: Vec<(u32, f64, f64)>,
    pub any_5xx: bool,
    pub ran_out: Vec<String>,
}

impl Bench<'_> {
    /// The ceilings and the runs, per connection count.
    pub async fn measure(
        &self,
        url: &str,
        ceiling: Option<&Ceiling>,
        fresh_orders: u64,
    ) -> Result<Measured> {
        let mut rows = Vec::new();
        let mut ceilings = Vec::new();
        let p = &self.args.population;
        let mut fresh_base = p.orders;
        let mut any_5xx = false;
        let mut ran_out = Vec::new();
        for &c in &self.args.connections.0 {
            let mut of = None;
            if let Some(ceil) = ceiling {
                let direct = self
                    .ceiling(c, &ceil.url, "gateway alone", "/direct/")
                    .await?;
                let hop = self
                    .ceiling(c, &ceil.url, "one proxied hop", "/hop/")
                    .await?;
                ceilings.push((c, direct, hop));
                of = Some((direct, hop));
            }
            for &mode in &self.args.modes.0 {
                let load = match mode {
                    Mode::Fresh => {
                        log(&format!(
                            "fresh checkouts, {c} connections, {}s (order ids from {fresh_base})",
                            self.args.seconds
                        ));
                        Load {
                            url,
                            mode,
                            prefix: "/orders/checkout/",
                            base: fresh_base,
                            count: 0,
                        }
                    }
                    Mode::Random => {
                        log(&format!(
                            "random checkouts, {c} connections, {}s (order ids 0..{})",
                            self.args.seconds,
                            p.orders - 1
                        ));
                        Load {
                            url,
                            mode,
                            prefix: "/orders/checkout/",
                            base: 0,
                            count: p.orders,
                        }
                    }
                };
                let (o, busy) = self.wrk(c, &load).await?;
                if mode == Mode::Fresh {
                    if o.next_base > fresh_orders {
                        ran_out.push(format!("fresh/{c}"));
                        log(&format!(
                            "  WARNING: ran past the {fresh_orders} fresh orders (raise BENCH_FRESH_RATE)"
                        ));
                    }
                    fresh_base = o.next_base;
                }
                any_5xx |= o.s5xx > 0;
                // Machine CPU per answered checkout: everything on it (wrk, gateway, services,
                // Redis) over the run, so it compares builds more steadily than the rate does.
                let answered = o.rate * self.args.seconds as f64;
                let cpu_ms =
                    (o.rate > 0.0).then(|| busy as f64 * 1000.0 / clock_ticks() as f64 / answered);
                let of_ceilings = of.map(|(d, h)| (100.0 * o.rate / d, 100.0 * o.rate / h));
                let row = Row {
                    mode,
                    connections: c,
                    outcome: o,
                    cpu_ms,
                    of_ceilings,
                    peaks: peaks(self.local),
                };
                let line = row.line();
                log(&format!("  {line}"));
                rows.push(line);
            }
        }
        Ok(Measured {
            rows,
            ceilings,
            any_5xx,
            ran_out,
        })
    }

    /// One ceiling run (random ids behind `prefix`): its rate.
    async fn ceiling(&self, c: u32, url: &str, name: &str, prefix: &str) -> Result<f64> {
        log(&format!(
            "ceiling: {name}, {c} connections, {}s",
            self.args.seconds
        ));
        let load = Load {
            url,
            mode: Mode::Random,
            prefix,
            base: 0,
            count: CEILING_IDS,
        };
        let (o, _) = self.wrk(c, &load).await?;
        log(&format!("  {:.1}/s", o.rate));
        Ok(o.rate)
    }

    /// One wrk run at `c` connections, profiled when asked (fresh checkouts only); its
    /// outcome and the machine's busy ticks during it.
    async fn wrk(&self, c: u32, load: &Load<'_>) -> Result<(Outcome, u64)> {
        let profiled = load.mode == Mode::Fresh;
        let profile = match (self.args.profile(), profiled) {
            (Some(f), true) => Some(Profile::begin(f.clone(), self.local, self.clusters).await?),
            _ => None,
        };
        let busy0 = busy_ticks()?;
        let threads = self.args.threads_at(c);
        let o = wrk::run(&self.script, threads, c, self.args.seconds, load).await?;
        let busy = busy_ticks()?.saturating_sub(busy0);
        if let Some(profile) = profile {
            let label = format!("fresh checkouts at {c} connections");
            let answered = (o.rate * self.args.seconds as f64).round() as u64;
            profile
                .end(self.local, self.clusters, &label, answered)
                .await?;
        }
        Ok((o, busy))
    }
}
