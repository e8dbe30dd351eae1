"""The chaos report's picture: one timeline of the whole run in 100 ms bins.

Top: successes/s and errors/s (left axis) and the p99 latency of the answers of each bin
(right axis, log scale), binned by the time an answer arrived; a red band from each kill to
the moment its victim was healthy again, labelled with the victim, and a green line there.
Below: successes/s of each service, so that a stalled service shows while others answer.
"""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from chaos_summary import SERVICES, p99  # noqa: E402

BIN = 0.1
SMOOTH = 5  # bins averaged in the per-service panel


def _smooth(values, width: int):
    """Centred moving mean over `width` bins."""
    half = width // 2
    out = []
    for i in range(len(values)):
        window = values[max(0, i - half):i + half + 1]
        out.append(sum(window) / len(window))
    return out


def bins(samples, run_end: float):
    """Per bin: successes/s, errors/s, p99 (ms), and successes/s of each service."""
    n = max(1, math.ceil(run_end / BIN))
    ok, err = [0] * n, [0] * n
    per_service = {svc: [0] * n for svc in SERVICES}
    lat: list[list[float]] = [[] for _ in range(n)]
    for s in samples:
        i = min(n - 1, max(0, int(s.end / BIN)))
        (ok if s.ok else err)[i] += 1
        if s.ok:
            per_service[s.service][i] += 1
        lat[i].append(s.latency)
    t = [i * BIN for i in range(n)]
    per_s = 1 / BIN
    p = [p99(v) * 1000 if v else math.nan for v in lat]
    services = {svc: [x * per_s for x in v] for svc, v in per_service.items()}
    return t, [x * per_s for x in ok], [x * per_s for x in err], p, services


def plot(path, samples, kills, run_end: float, title: str) -> None:
    t, ok, err, p, services = bins(samples, run_end)
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

    for svc, color in zip(SERVICES, ("tab:orange", "tab:green", "tab:cyan")):
        low.plot(t, _smooth(services[svc], SMOOTH), color=color, lw=0.9, label=svc)
    low.set_ylabel(f"successes/s per service\n({SMOOTH * BIN:g} s mean)", fontsize=9)
    low.set_xlabel("seconds since start")
    low.set_ylim(0, max(max(_smooth(v, SMOOTH)) for v in services.values()) * 1.2 + 1)
    low.legend(loc="upper left", ncol=3, fontsize=7.5, framealpha=0.9)

    for k in kills:
        killed = k.called if k.killed is None else k.killed
        back = k.recovered if k.recovered is not None else (k.settled or run_end)
        for a in (ax, low):
            a.axvspan(killed, back, color="tab:red", alpha=0.08, lw=0)
            a.axvline(killed, color="tab:red", ls="--", lw=0.9)
        if k.recovered is not None:
            low.axvline(k.recovered, color="tab:green", ls=":", lw=1.1)
        ax.text(killed, top * 0.99, f" kill {k.victim}", rotation=90, va="top", ha="right",
                fontsize=7.5, color="darkred")
        if k.recovered is not None:
            ax.axvline(k.recovered, color="tab:green", ls=":", lw=1.1)
            ax.text(k.recovered, top * 0.99, f" {k.victim} back", rotation=90, va="top",
                    ha="left", fontsize=7.5, color="darkgreen")

    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower left", ncol=3, fontsize=8,
              framealpha=0.9)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
