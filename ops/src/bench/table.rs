//! The benchmark's report: a Markdown table of the runs, the ceilings, memory and the
//! invariants' verdict (written to `BENCH_OUT` and printed). `stress-test/ab.sh` reads the
//! `| fresh |` row's columns by position: keep their order.

use super::args::Mode;
use super::wrk::Outcome;

/// The service processes whose peak RSS the table shows (stack.sh's names).
pub const SERVICES: [&str; 6] = [
    "order-1",
    "order-2",
    "stock-1",
    "stock-2",
    "payment-1",
    "payment-2",
];

/// One measured run, ready to print.
pub struct Row {
    pub mode: Mode,
    pub connections: u32,
    pub outcome: Outcome,
    /// Machine CPU ms per answered checkout (`None`: none answered).
    pub cpu_ms: Option<f64>,
    /// The rate as a share of the gateway-alone and one-hop ceilings.
    pub of_ceilings: Option<(f64, f64)>,
    /// VmHWM of each of [`SERVICES`] after the run, MiB or "-".
    pub peaks: Vec<String>,
}

impl Row {
    pub fn line(&self) -> String {
        let o = &self.outcome;
        let ms = |us: u64| format!("{:.1}", us as f64 / 1000.0);
        let cpu = self.cpu_ms.map_or("-".into(), |c| format!("{c:.2}"));
        let (fd, fh) = match self.of_ceilings {
            Some((d, h)) => (format!("{d:.1} %"), format!("{h:.1} %")),
            None => ("-".into(), "-".into()),
        };
        format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {cpu} | {fd} | {fh} | {} |",
            self.mode,
            self.connections,
            o.rate,
            ms(o.p50_us),
            ms(o.p99_us),
            ms(o.p999_us),
            o.non2xx,
            o.s5xx,
            o.sockerr,
            self.peaks.join(" / ")
        )
    }
}

/// Everything the report says.
pub struct Report {
    pub date: String,
    pub cpus: usize,
    pub threads: u32,
    pub seconds: u64,
    pub gateway: String,
    pub fsync: String,
    pub replicas: [u32; 3],
    pub items: u64,
    pub users: u64,
    pub orders: u64,
    pub stock: u64,
    pub credit: u64,
    pub price: u64,
    pub fresh_orders: u64,
    pub rows: Vec<String>,
    /// Per connection count: gateway-alone and one-hop req/s (empty: no ceilings).
    pub ceilings: Vec<(u32, f64, f64)>,
    pub ceiling_port: u16,
    pub peaks_after_populate: Vec<String>,
    /// `name=MiB` of each service now.
    pub rss_now: Vec<String>,
    /// Summed VmHWM of order's, stock's and payment's Redis nodes.
    pub redis_peaks: [u64; 3],
    pub invariants: String,
    pub problems: Vec<String>,
    /// `fresh/64` for each fresh run that used up the fresh orders.
    pub ran_out: Vec<String>,
}

pub fn render(r: &Report) -> String {
    let services = SERVICES.join(" / ");
    let mut t = format!(
        "# Checkout benchmark\n\n\
         {} UTC, {} CPUs, wrk -t{}, {} s per run, gateway {}.\n\
         Durability: Redis appendfsync **{}** (REDIS_FSYNC). Replicas: order {}, stock {}, payment {}.\n\
         Populate: {} items (stock {}, price {}), {} users (credit {}), {} orders;\n\
         fresh runs use order ids {}..{} (an extra batch_init of {} orders).\n\n\
         | mode | conns | checkouts/s (2xx) | p50 ms | p99 ms | p99.9 ms | non-2xx | 5xx | socket errors | machine CPU ms per checkout | of gateway-alone | of one-hop | peak RSS MiB {services} |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        r.date, r.cpus, r.threads, r.seconds, r.gateway, r.fsync, r.replicas[0], r.replicas[1],
        r.replicas[2], r.items, r.stock, r.price, r.users, r.credit, r.orders, r.orders,
        r.fresh_orders.saturating_sub(1), r.fresh_orders,
    );
    for row in &r.rows {
        t += row;
        t.push('\n');
    }
    t.push('\n');
    if !r.ceilings.is_empty() {
        t += &format!(
            "Ceilings (same wrk settings, tiny nginx on :{}):\n\n\
             | conns | gateway alone req/s | one proxied hop req/s |\n|---|---|---|\n",
            r.ceiling_port
        );
        for (c, direct, hop) in &r.ceilings {
            t += &format!("| {c} | {direct:.0} | {hop:.0} |\n");
        }
        t.push('\n');
    }
    t += &format!(
        "Peak RSS (VmHWM, MiB) {services} right after populate: {};\n\
         RSS now: {} \n\
         Redis peak RSS MiB, summed over each cluster's nodes, order/stock/payment: {} / {} / {}.\n\n",
        r.peaks_after_populate.join(" / "),
        r.rss_now.join(" "),
        r.redis_peaks[0],
        r.redis_peaks[1],
        r.redis_peaks[2],
    );
    t += &r.invariants;
    if r.problems.is_empty() {
        t += "**All invariants hold.**\n";
    } else {
        t += "**INVARIANTS BROKEN:**\n";
        for p in &r.problems {
            t += &format!("- {p}\n");
        }
    }
    if !r.ran_out.is_empty() {
        t += &format!(
            "Warning: fresh runs ran out of fresh orders: {} (their extra requests were 4xx).\n",
            r.ran_out.join(" ")
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_has_the_columns_ab_sh_reads_by_position() {
        let row = Row {
            mode: Mode::Fresh,
            connections: 64,
            outcome: Outcome {
                requests: 10,
                ok: 9,
                non2xx: 1,
                s5xx: 0,
                sockerr: 0,
                rate: 1523.4,
                p50_us: 30250,
                p99_us: 125600,
                p999_us: 200000,
                next_base: 0,
            },
            cpu_ms: Some(1.256),
            of_ceilings: None,
            peaks: vec!["20".into(), "-".into()],
        };
        let line = row.line();
        assert_eq!(
            line,
            "| fresh | 64 | 1523 | 30.2 | 125.6 | 200.0 | 1 | 0 | 0 | 1.26 | - | - | 20 / - |"
        );
        // ab.sh: awk -F'|' '{ gsub(/ /, ""); print $4, $6, $11 }'
        let cols: Vec<String> = line.split('|').map(|c| c.replace(' ', "")).collect();
        assert_eq!(
            (cols[3].as_str(), cols[5].as_str(), cols[10].as_str()),
            ("1523", "125.6", "1.26")
        );
    }
}
