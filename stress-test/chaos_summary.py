"""The chaos report's judgement and outputs: per-kill numbers, the markdown table, the CSVs.

Pure functions of the samples (`Sample`, one per request the load sent) and the kills (`Kill`); no I/O but the
writers at the end, no plotting (chaos_plot.py). Times are seconds since the run's start.

A kill has two times: `called`, when `stack.sh kill` was called, and `killed`, when it
returned (the process is gone then; the SIGKILL itself comes a moment before, after the
script has listed the process's children, which takes up to a second or so). Per kill, its
window runs from `called` to the next kill's (the last one's to the end of the run, so that
requests still in flight when the load stops are judged too):
- errors: answers in the window (by the time they ended) that were not the expected 2xx;
- longest gap: per service (order, stock, payment), and per entity the probes read, the
  longest wait for a successful answer between `called` and the end of the settle period
  after the restart: from the first request sent after a success (or after `called`) to the
  next success; the worst counts, so a stalled service or Redis master shows even while the
  others answer;
- p99: latency of every request in flight at some time during the 5 s after `killed`.
"""

import bisect
import collections
import csv
import dataclasses
import math

SERVICES = ("order", "stock", "payment")
P99_WINDOW = 5.0

# Longest gap allowed per kind of victim (seconds). A Redis node's kill costs a failover
# (cluster-node-timeout 1 s plus the election) or, for a replica, the master noticing it is
# gone before WAIT stops waiting for it; a service replica's kill only a gateway retry.
TARGET_GAP = {
    "service replica": 0.5,
    "redis master": 3.0,
    "redis replica": 3.0,
    "redis node": 3.0,
    "redis (single)": 3.0,
}


@dataclasses.dataclass(frozen=True)
class Sample:
    """One request: seconds since the run's start, what it was, and how it ended."""

    start: float
    end: float
    kind: str  # the step, e.g. "checkout"
    service: str  # order, stock or payment (the first path segment's service)
    status: str  # the HTTP status, or "conn", "timeout", "wrong" (a 2xx with a wrong body)
    ok: bool
    note: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclasses.dataclass
class Kill:
    victim: str
    role: str  # a key of TARGET_GAP
    called: float  # `stack.sh kill` called
    killed: float | None = None  # `stack.sh kill` returned: the victim is gone
    recovered: float | None = None  # when `stack.sh start` returned (None: it failed)
    settled: float | None = None  # end of the settle period after the restart
    broken: bool = False  # the run broke off while this victim was down
    note: str = ""


@dataclasses.dataclass
class Verdict:
    kill: Kill
    errors: int
    error_kinds: str  # e.g. "503 x3, conn x1"
    gap: float  # seconds
    gap_service: str
    p99: float  # seconds
    requests: int  # answers in the window
    passed: bool
    why: str  # what missed the target, empty when passed


def p99(values) -> float:
    """Nearest-rank 99th percentile; 0 for no values."""
    v = sorted(values)
    if not v:
        return 0.0
    return v[max(0, math.ceil(0.99 * len(v)) - 1)]


def longest_gap(success_ends, starts, start: float, end: float) -> float:
    """Longest time in [start, end] that a client sending requests waited for a success.

    After each success (and after `start`), the wait begins when the next request was sent and
    ends at the next success (or at `end`). Time in which no request was sent at all (the
    load generator itself starved of CPU, say) is not counted: it says nothing about the
    system. `starts` are the send times of every request of the same kind."""
    ends = [start] + sorted(t for t in success_ends if start <= t <= end) + [end]
    sent = sorted(starts)
    worst = 0.0
    for a, b in zip(ends, ends[1:]):
        i = bisect.bisect_left(sent, a)
        if i < len(sent) and sent[i] < b:
            worst = max(worst, b - sent[i])
    return worst


def judge(samples, kills: list[Kill], run_end: float) -> list[Verdict]:
    verdicts = []
    for i, k in enumerate(kills):
        window_end = kills[i + 1].called if i + 1 < len(kills) else math.inf
        in_window = [s for s in samples if k.called <= s.end < window_end]
        bad = [s for s in in_window if not s.ok]
        kinds = collections.Counter(s.status for s in bad)
        gap_end = k.settled or min(window_end, run_end)
        sent = [s for s in samples if k.called <= s.start < gap_end]
        gaps = {
            svc: longest_gap((s.end for s in in_window if s.ok and s.service == svc),
                             [s.start for s in sent if s.service == svc], k.called, gap_end)
            for svc in SERVICES
        }
        # Each probed entity on its own: with a cluster, one master's keys can stall while the
        # service's other keys answer.
        probed = {(s.service, s.kind) for s in in_window if s.kind.startswith("probe")}
        for svc, kind in probed:
            gaps[f"{svc} {kind}"] = longest_gap(
                (s.end for s in in_window if s.ok and s.service == svc and s.kind == kind),
                [s.start for s in sent if s.service == svc and s.kind == kind], k.called, gap_end)
        gap_service = max(gaps, key=gaps.get)
        killed = k.called if k.killed is None else k.killed
        after = [s.latency for s in samples if s.start < killed + P99_WINDOW and s.end > killed]
        target = TARGET_GAP[k.role]
        why = []
        if bad:
            why.append(f"{len(bad)} errors")
        if gaps[gap_service] >= target:
            why.append(f"gap >= {target:g} s")
        if k.broken:
            why.append("run broken off")
        elif k.recovered is None:
            why.append("restart failed")
        verdicts.append(Verdict(
            kill=k,
            errors=len(bad),
            error_kinds=", ".join(f"{st} x{n}" for st, n in kinds.most_common()),
            gap=gaps[gap_service],
            gap_service=gap_service,
            p99=p99(after),
            requests=len(in_window),
            passed=not why,
            why=", ".join(why),
        ))
    return verdicts


def baseline(samples, kills: list[Kill], run_end: float) -> dict:
    """The steady phase before the first kill: rate, errors and p99."""
    end = kills[0].called if kills else run_end
    steady = [s for s in samples if s.end < end]
    return {
        "seconds": end,
        "requests": len(steady),
        "rate": len(steady) / end if end > 0 else 0.0,
        "errors": sum(not s.ok for s in steady),
        "p99": p99(s.latency for s in steady),
        "checkouts": sum(s.ok and s.kind == "checkout" for s in steady),
    }


def markdown(verdicts: list[Verdict], base: dict, settings: dict, samples) -> str:
    total_err = sum(not s.ok for s in samples)
    checkouts = sum(s.ok and s.kind == "checkout" for s in samples)
    passed = sum(v.passed for v in verdicts)
    lines = [
        "# Chaos report",
        "",
        f"{settings['mode']}; load through {settings['gateway']}: {settings['workers']} workers, "
        f"each running fresh checkouts (create user, fund, create item, stock, create order, "
        f"addItem, checkout, find item, find user; {settings['pause'] * 1000:g} ms pause between "
        f"requests), and open-loop reads of 6 entities per service, {settings['probe_rate']:g}/s "
        f"each (find user, find item, find order); {settings['timeout']:g} s timeout. Every kill is a SIGKILL; the victim stays "
        f"down {settings['down']:g} s, then `stack.sh start` brings it back (the green line: "
        f"healthy again) and the load settles for {settings['settle']:g} s.",
        "",
        f"Steady phase ({base['seconds']:.1f} s before the first kill): {base['rate']:.0f} requests/s, "
        f"p99 {base['p99'] * 1000:.0f} ms, {base['errors']} errors. Whole run: {len(samples)} "
        f"requests, {checkouts} paid checkouts, {total_err} errors. "
        f"**{passed} of {len(verdicts)} kills met their target.**",
        "",
        "| # | victim | role | killed at | down for | errors | longest gap | p99 in 5 s after kill | target | result |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, v in enumerate(verdicts, 1):
        k = v.kill
        killed = k.called if k.killed is None else k.killed
        down = f"{k.recovered - killed:.1f} s" if k.recovered is not None else "not back"
        errs = f"{v.errors} ({v.error_kinds})" if v.errors else "0"
        target = f"0 errors, gap < {TARGET_GAP[k.role] * 1000:.0f} ms"
        result = "pass" if v.passed else f"**FAIL** ({v.why})"
        lines.append(
            f"| {i} | {k.victim} | {k.role} | {killed:.1f} s | {down} | {errs} | "
            f"{v.gap * 1000:.0f} ms ({v.gap_service}) | {v.p99 * 1000:.0f} ms | {target} | {result} |"
        )
    lines += [
        "",
        "Killed at: when `stack.sh kill` returned (the victim gone); down for: from then until "
        "`stack.sh start` returned with the victim healthy again. "
        "Errors: answers between this kill and the next that were not the expected 2xx (a 5xx, "
        "a 4xx, `conn`: connection error, `timeout`, `wrong`: a 2xx whose read-back did not show "
        "the checkout exactly once). Longest gap: the longest wait for a successful answer (from "
        "the first request sent after a success to the next success) from one service, or for "
        "one of the entities each service's probes read (the worst, "
        "named), from the kill to the end of the settle period. p99: latency of every request "
        "in flight during the 5 s after "
        "the kill.",
        "",
        "![timeline](timeline.png)",
        "",
    ]
    notes = [f"- {n}" for n in settings.get("notes", [])]
    notes += [f"- {v.kill.victim}: {v.kill.note}" for v in verdicts if v.kill.note]
    if notes:
        lines += ["Notes:", ""] + notes + [""]
    before, after = settings.get("status", ("", ""))
    for title, text in (("before the run", before), ("after it", after)):
        if text.strip():
            lines += [f"`stack.sh status` {title}:", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


def write_samples(path, samples) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["start_s", "end_s", "latency_ms", "kind", "service", "status", "ok", "note"])
        for s in samples:
            w.writerow([f"{s.start:.4f}", f"{s.end:.4f}", f"{s.latency * 1000:.1f}", s.kind,
                        s.service, s.status, int(s.ok), s.note])


def write_kills(path, kills: list[Kill]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["victim", "role", "kill_called_s", "killed_s", "recovered_s", "settled_s", "note"])
        for k in kills:
            w.writerow([k.victim, k.role, f"{k.called:.4f}",
                        "" if k.killed is None else f"{k.killed:.4f}",
                        "" if k.recovered is None else f"{k.recovered:.4f}",
                        "" if k.settled is None else f"{k.settled:.4f}", k.note])
