#!/usr/bin/env python3
"""The chaos report's picture: chaos_plot.py OUT_DIR [TITLE]

Draws OUT_DIR/timeline.png from the CSVs `ops chaos-report` wrote there: timeline.csv (the
run in 100 ms bins, binned by the time an answer arrived) and kills.csv. Drawing only: every
number is computed by ops (ops/src/chaos_report/judge.rs).

Top: successes/s and errors/s (left axis) and the p99 latency of each bin's answers (right
axis, log scale); a red band from each kill to the moment its victim was healthy again,
labelled with the victim, and a green line there. Below: successes/s of each service, so
that a stalled service shows while others answer.

Runs itself in a venv made from chaos-requirements.txt (CHAOS_VENV, default
~/.cache/wdm-chaos-report/venv), created or refreshed when the file changed.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "chaos-requirements.txt"


def ensure_venv() -> None:
    """Re-executes this script in its venv (made from the pinned requirements) unless in it."""
    venv = Path(os.environ.get("CHAOS_VENV", Path.home() / ".cache/wdm-chaos-report/venv"))
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    stamp = venv / ".wdm-requirements"
    python = venv / "bin/python"
    if not python.exists() or not stamp.exists() or stamp.read_bytes() != REQUIREMENTS.read_bytes():
        print(f"[chaos-plot] creating {venv} from {REQUIREMENTS.name}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", str(REQUIREMENTS)], check=True, timeout=900)
        stamp.write_bytes(REQUIREMENTS.read_bytes())
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    ensure_venv()

import csv  # noqa: E402
import datetime  # noqa: E402
import math  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SERVICES = ("order", "stock", "payment")
SMOOTH = 5  # bins averaged in the per-service panel


def _smooth(values, width: int):
    """Centred moving mean over `width` bins."""
    half = width // 2
    return [sum(w) / len(w) for w in (values[max(0, i - half):i + half + 1] for i in range(len(values)))]


def _time(text: str):
    return float(text) if text else None


def read(out: Path):
    """The bins as columns, and the kills (killed, back or None, victim)."""
    with open(out / "timeline.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    col = {k: [float(r[k]) if r[k] else math.nan for r in rows] for k in rows[0]} if rows else {}
    kills = []
    with open(out / "kills.csv", newline="") as f:
        for k in csv.DictReader(f):
            killed = _time(k["killed_s"]) or float(k["kill_called_s"])
            kills.append((killed, _time(k["recovered_s"]), _time(k["settled_s"]), k["victim"]))
    return col, kills


def plot(out: Path, title: str) -> None:
    col, kills = read(out)
    if not col:
        raise SystemExit(f"{out}/timeline.csv has no bins")
    t, ok, err, p = col["start_s"], col["ok_per_s"], col["errors_per_s"], col["p99_ms"]
    run_end = t[-1] + (t[1] - t[0] if len(t) > 1 else 0.1)
    fig, (ax, low) = plt.subplots(2, 1, sharex=True, figsize=(min(18, max(12, run_end / 8)), 7.5), dpi=110,
                                  gridspec_kw={"height_ratios": [3, 1.2]})
    ax.plot(t, ok, color="tab:blue", lw=0.8, label="successes/s")
    ax.plot(t, err, color="tab:red", lw=1.2, label="errors/s")
    ax.set_ylabel("answers per second (100 ms bins)")
    ax.set_xlim(0, run_end)
    top = max(ok + err + [1]) * 1.35
    ax.set_ylim(0, top)

    ax2 = ax.twinx()
    ax2.plot(t, p, color="tab:purple", lw=0, marker=".", ms=2.5, label="p99 latency (ms)")
    ax2.set_yscale("log")
    ax2.set_ylabel("p99 latency of the bin's answers (ms, log)")
    finite = [x for x in p if not math.isnan(x)]
    if finite:
        ax2.set_ylim(max(0.5, min(finite) / 2), max(finite) * 3)

    smoothed = {svc: _smooth(col[svc], SMOOTH) for svc in SERVICES}
    for svc, color in zip(SERVICES, ("tab:orange", "tab:green", "tab:cyan")):
        low.plot(t, smoothed[svc], color=color, lw=0.9, label=svc)
    low.set_ylabel(f"successes/s per service\n({SMOOTH * 0.1:g} s mean)", fontsize=9)
    low.set_xlabel("seconds since start")
    low.set_ylim(0, max(max(v) for v in smoothed.values()) * 1.2 + 1)
    low.legend(loc="upper left", ncol=3, fontsize=7.5, framealpha=0.9)

    for killed, back, settled, victim in kills:
        end = back if back is not None else (settled or run_end)
        for a in (ax, low):
            a.axvspan(killed, end, color="tab:red", alpha=0.08, lw=0)
            a.axvline(killed, color="tab:red", ls="--", lw=0.9)
        ax.text(killed, top * 0.99, f" kill {victim}", rotation=90, va="top", ha="right",
                fontsize=7.5, color="darkred")
        if back is not None:
            for a in (ax, low):
                a.axvline(back, color="tab:green", ls=":", lw=1.1)
            ax.text(back, top * 0.99, f" {victim} back", rotation=90, va="top",
                    ha="left", fontsize=7.5, color="darkgreen")

    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower left", ncol=3, fontsize=8,
              framealpha=0.9)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    ax.set_title(f"{title} ({stamp})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "timeline.png")
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    plot(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) == 3 else "chaos report")
