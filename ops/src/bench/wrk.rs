//! wrk, the load generator, as a child process: one run at one connection count with
//! `checkout.lua` (stress-test/bench), whose `done()` prints one `RESULT key=value ...` line.

use super::args::Mode;
use super::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use tokio::process::Command;

/// Which ids a run sends: `prefix` + id, ids from `base` (fresh: each thread walks its own;
/// random: `base..base + count`).
pub struct Load<'a> {
    pub url: &'a str,
    pub mode: Mode,
    pub prefix: &'a str,
    pub base: u64,
    pub count: u64,
}

/// What a run's `RESULT` line says (latencies in microseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub requests: u64,
    pub ok: u64,
    pub non2xx: u64,
    pub s5xx: u64,
    pub sockerr: u64,
    /// 2xx answers per second.
    pub rate: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    /// The first id no thread of a fresh run has used.
    pub next_base: u64,
}

/// Runs wrk for `seconds` with `threads` threads and `connections` connections.
pub async fn run(
    script: &Path,
    threads: u32,
    connections: u32,
    seconds: u64,
    load: &Load<'_>,
) -> Result<Outcome> {
    let what = format!("wrk {} at {connections} connections", load.mode);
    let out = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .args(["--timeout", "30s", "-s"])
        .arg(script)
        .arg(load.url)
        .arg("--")
        .arg(load.mode.to_string())
        .arg(load.prefix)
        .arg(load.base.to_string())
        .arg(load.count.to_string())
        .arg(threads.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(Error::io(format!("starting {what}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "{what} failed ({}):\n{text}",
            out.status
        )));
    }
    parse(&text).ok_or_else(|| Error::Failed(format!("{what}: no RESULT line in\n{text}")))
}

/// The `RESULT` line of wrk's output.
pub fn parse(output: &str) -> Option<Outcome> {
    let line = output.lines().find_map(|l| l.strip_prefix("RESULT "))?;
    let kv: HashMap<&str, &str> = line
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect();
    let int = |k: &str| kv.get(k)?.parse::<u64>().ok();
    Some(Outcome {
        requests: int("requests")?,
        ok: int("ok")?,
        non2xx: int("non2xx")?,
        s5xx: int("s5xx")?,
        sockerr: int("sockerr")?,
        rate: kv.get("rate")?.parse().ok()?,
        p50_us: int("p50")?,
        p99_us: int("p99")?,
        p999_us: int("p999")?,
        next_base: int("next_base")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_is_read_among_wrks_own_output() {
        let out = "Running 2s test @ http://127.0.0.1:8000\n  2 threads and 16 connections\n\
                   RESULT requests=812 ok=810 non2xx=2 s5xx=1 sockerr=0 rate=404.7 p50=35120 \
                   p99=91000 p999=120333 next_base=21406\n";
        let o = parse(out).unwrap();
        assert_eq!(o.requests, 812);
        assert_eq!(o.non2xx, 2);
        assert_eq!(o.s5xx, 1);
        assert_eq!(o.rate, 404.7);
        assert_eq!(o.p999_us, 120333);
        assert_eq!(o.next_base, 21406);
        assert_eq!(parse("Running 2s test\n"), None);
        assert_eq!(parse("RESULT requests=1 ok=1\n"), None);
    }
}
