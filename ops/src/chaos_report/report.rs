//! The chaos report's outputs: `report.md` (one row per kill), `samples.csv` (every
//! request), `kills.csv` and `timeline.csv` (the 100 ms bins `stress-test/chaos_plot.py`
//! draws). Formatting only: every number comes from `judge.rs`.

use super::judge::{self, is_checkout, Baseline, Bin, Kill, Sample, Verdict, P99_WINDOW};
use super::load::PROBE_KEYS;
use crate::stack::SERVICES;
use anyhow::{Context, Result};
use std::path::Path;

/// How the run was made, for the report's first paragraph.
pub struct Settings {
    /// The topology, e.g. "Redis Cluster per service (3 masters, 1 replica(s) each)".
    pub mode: String,
    pub gateway: String,
    pub workers: usize,
    /// Seconds.
    pub pause: f64,
    pub probe_rate: f64,
    /// Seconds.
    pub timeout: f64,
    pub down: f64,
    pub settle: f64,
    pub notes: Vec<String>,
    /// `ops cluster status` before and after the run.
    pub status: (String, String),
}

/// Judges the run and writes report.md and the CSVs; the report, and whether every kill
/// met its target.
pub fn write_all(
    out: &Path,
    samples: &[Sample],
    kills: &[Kill],
    run_end: f64,
    settings: &Settings,
) -> Result<(String, bool)> {
    let verdicts = judge::judge(samples, kills, run_end);
    let passed = verdicts.iter().all(Verdict::passed);
    let judged: Vec<(Kill, Verdict)> = kills.iter().cloned().zip(verdicts).collect();
    let base = judge::baseline(samples, kills, run_end);
    write_samples(&out.join("samples.csv"), samples)?;
    write_kills(&out.join("kills.csv"), kills)?;
    let bins = judge::bins(samples, run_end);
    write_timeline(&out.join("timeline.csv"), &bins, judge::BIN)?;
    let md = markdown(&judged, &base, settings, samples);
    std::fs::write(out.join("report.md"), &md).context("writing report.md")?;
    Ok((md, passed))
}

fn markdown(
    verdicts: &[(Kill, Verdict)],
    base: &Baseline,
    settings: &Settings,
    samples: &[Sample],
) -> String {
    let s = settings;
    let total_err = samples.iter().filter(|x| !x.ok()).count();
    let checkouts = samples.iter().filter(|x| is_checkout(x)).count();
    let passed = verdicts.iter().filter(|(_, v)| v.passed()).count();
    let mut lines = vec![
        "# Chaos report".to_string(),
        String::new(),
        format!(
            "{}; load through {}: {} workers, each running fresh checkouts (create user, fund, \
             create item, stock, create order, addItem, checkout, find item, find user; {} ms \
             pause between requests), and open-loop reads of {PROBE_KEYS} entities per \
             service, {}/s each (find user, find item, find order); {} s timeout. Every kill \
             is a SIGKILL; the victim stays down {} s, then `ops fault start` brings it back \
             (the green line: healthy again) and the load settles for {} s.",
            s.mode,
            s.gateway,
            s.workers,
            s.pause * 1000.0,
            s.probe_rate,
            s.timeout,
            s.down,
            s.settle
        ),
        String::new(),
        format!(
            "Steady phase ({:.1} s before the first kill): {:.0} requests/s, p99 {:.0} ms, {} \
             errors. Whole run: {} requests, {checkouts} paid checkouts, {total_err} errors. \
             **{passed} of {} kills met their target.**",
            base.seconds,
            base.rate,
            base.p99 * 1000.0,
            base.errors,
            samples.len(),
            verdicts.len()
        ),
        String::new(),
        "| # | victim | role | killed at | down for | errors | longest gap | p99 in 5 s after kill | target | result |".to_string(),
        "|---|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for (i, (k, v)) in verdicts.iter().enumerate() {
        lines.push(row(i + 1, k, v));
    }
    let legend = format!(
        "Killed at: when `ops fault kill` returned (the victim gone); down for: from then \
         until `ops fault start` returned with the victim healthy again. Errors: answers \
         between this kill and the next that were not the expected 2xx (a 5xx, a 4xx, `conn`: \
         connection error, `timeout`, `wrong`: a 2xx whose read-back did not show the \
         checkout exactly once). Longest gap: the longest wait for a successful answer (from \
         the first request sent after a success to the next success) from one service, or \
         for one of the entities each service's probes read (the worst, named), from the \
         kill to the end of the settle period. p99: latency of every request in flight \
         during the {P99_WINDOW} s after the kill."
    );
    lines.extend([String::new(), legend, String::new()]);
    lines.extend(["![timeline](timeline.png)".to_string(), String::new()]);
    let mut notes: Vec<String> = s.notes.iter().map(|n| format!("- {n}")).collect();
    notes.extend(
        verdicts
            .iter()
            .filter(|(k, _)| !k.note.is_empty())
            .map(|(k, _)| format!("- {}: {}", k.victim, k.note)),
    );
    if !notes.is_empty() {
        lines.extend(["Notes:".to_string(), String::new()]);
        lines.extend(notes);
        lines.push(String::new());
    }
    for (title, text) in [("before the run", &s.status.0), ("after it", &s.status.1)] {
        if !text.trim().is_empty() {
            lines.push(format!("`ops cluster status` {title}:"));
            lines.extend(["", "```text", text.trim_end(), "```", ""].map(String::from));
        }
    }
    lines.join("\n")
}

fn row(n: usize, k: &Kill, v: &Verdict) -> String {
    let killed = k.killed_at();
    let down = match k.recovered {
        Some(back) => format!("{:.1} s", back - killed),
        None => "not back".to_string(),
    };
    let errors = if v.errors > 0 {
        format!("{} ({})", v.errors, v.error_kinds)
    } else {
        "0".to_string()
    };
    let target = format!("0 errors, gap < {:.0} ms", k.role.target_gap() * 1000.0);
    let result = if v.passed() {
        "pass".to_string()
    } else {
        format!("**FAIL** ({})", v.why)
    };
    format!(
        "| {n} | {} | {} | {killed:.1} s | {down} | {errors} | {:.0} ms ({}) | {:.0} ms | {target} | {result} |",
        k.victim,
        k.role,
        v.gap * 1000.0,
        v.gap_service,
        v.p99 * 1000.0
    )
}

fn opt(t: Option<f64>) -> String {
    t.map(|t| format!("{t:.4}")).unwrap_or_default()
}

fn write_samples(path: &Path, samples: &[Sample]) -> Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "start_s",
        "end_s",
        "latency_ms",
        "kind",
        "service",
        "status",
        "ok",
        "note",
    ])?;
    for s in samples {
        w.write_record([
            format!("{:.4}", s.start),
            format!("{:.4}", s.end),
            format!("{:.1}", s.latency() * 1000.0),
            s.kind.clone(),
            s.service.to_string(),
            s.status.to_string(),
            u8::from(s.ok()).to_string(),
            s.note.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn write_kills(path: &Path, kills: &[Kill]) -> Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "victim",
        "role",
        "kill_called_s",
        "killed_s",
        "recovered_s",
        "settled_s",
        "note",
    ])?;
    for k in kills {
        w.write_record([
            k.victim.clone(),
            k.role.to_string(),
            format!("{:.4}", k.called),
            opt(k.killed),
            opt(k.recovered),
            opt(k.settled),
            k.note.clone(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// The bins, rates per second; p99 in ms, empty for a bin without answers.
fn write_timeline(path: &Path, bins: &[Bin], bin_seconds: f64) -> Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    let mut header = vec!["start_s", "ok_per_s", "errors_per_s", "p99_ms"];
    header.extend(SERVICES);
    w.write_record(header)?;
    let rate = |n: usize| format!("{:.1}", n as f64 / bin_seconds);
    for b in bins {
        let mut rec = vec![
            format!("{:.1}", b.start),
            rate(b.ok),
            rate(b.errors),
            b.p99
                .map(|p| format!("{:.2}", p * 1000.0))
                .unwrap_or_default(),
        ];
        rec.extend(b.per_service.iter().map(|&n| rate(n)));
        w.write_record(rec)?;
    }
    w.flush()?;
    Ok(())
}
