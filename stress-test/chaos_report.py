#!/usr/bin/env python3
"""make chaos-report: an availability picture of a running local stack.

  chaos_report.py [--gateway URL] [--out DIR] [--workers 32] [--steady 5] [--down 5]
                  [--settle 4] [--only VICTIM,...] [--mode auto|cluster|single]

Drives steady load through the gateway (chaos_load.py), kills one component at a time with
`env/local/stack.sh kill NAME`, leaves it down for --down seconds, brings it back with
`stack.sh start NAME` (which returns once it is healthy, for a Redis node once its cluster
is whole again), lets the load settle, and goes on with the next victim: every order, stock
and payment replica, then for each service its Redis master and one of its Redis replicas,
picked by their role at that moment (`stack.sh pick SVC master|replica`). A stack without
Redis Cluster (no `pick`) has one Redis per service: then each of those is killed instead.
VICTIMs for --only: a component name, or redis:SVC:master / redis:SVC:replica.

Writes to --out (default $RUN_DIR/chaos-report): timeline.png, report.md (one row per kill,
judged against the targets in chaos_summary.py), samples.csv (every request), kills.csv and
stack.log (what stack.sh said). Exits 1 when a kill missed its target or the run broke off,
2 when it could not start; the outputs are written either way, and whatever it killed is
started again whatever happens. Only loopback gateways are accepted.

Runs itself in a venv made from chaos-requirements.txt (CHAOS_VENV, default
~/.cache/wdm-chaos-report/venv), created or refreshed when the file changed.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REQUIREMENTS = HERE / "chaos-requirements.txt"


def ensure_venv() -> None:
    """Re-executes this script in its venv (made from the pinned requirements) unless in it."""
    venv = Path(os.environ.get("CHAOS_VENV", Path.home() / ".cache/wdm-chaos-report/venv"))
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    stamp = venv / ".wdm-requirements"
    python = venv / "bin/python"
    if not python.exists() or not stamp.exists() or stamp.read_bytes() != REQUIREMENTS.read_bytes():
        print(f"[chaos-report] creating {venv} from {REQUIREMENTS.name}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", str(REQUIREMENTS)], check=True, timeout=900)
        stamp.write_bytes(REQUIREMENTS.read_bytes())
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    ensure_venv()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

from chaos_load import Load  # noqa: E402
from chaos_plot import plot  # noqa: E402
from chaos_summary import (Kill, baseline, judge, markdown, write_kills,  # noqa: E402
                           write_samples)

SERVICES = ("order", "stock", "payment")
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[chaos-report {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Stack:
    """env/local/stack.sh, one call at a time; its stderr goes to stack.log."""

    def __init__(self, script: Path, log_path: Path, timeout: float):
        self.script = script
        self.log_path = log_path
        self.timeout = timeout

    async def run(self, *args: str) -> tuple[int, str]:
        with open(self.log_path, "ab") as err:
            err.write(f"$ stack.sh {' '.join(args)}\n".encode())
            err.flush()
            # A session of its own: a Ctrl-C meant for the report must not kill a `start`.
            proc = await asyncio.create_subprocess_exec(
                str(self.script), *args, stdout=asyncio.subprocess.PIPE, stderr=err,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                return 124, ""
            except asyncio.CancelledError:
                await proc.wait()  # let the call finish: a half-done start is worse
                raise
        return proc.returncode or 0, out.decode()


# A victim as planned: ("name", component, role) or ("pick", service, "master"|"replica").
def plan(mode: str, only: list[str] | None) -> list[tuple[str, str, str]]:
    if only:
        specs = []
        for v in only:
            parts = v.split(":")
            if len(parts) == 3 and parts[0] == "redis":
                specs.append(("pick", parts[1], parts[2]))
            elif re.fullmatch(r"redis-(order|stock|payment)-\d+", v):
                specs.append(("name", v, "redis node"))  # a cluster node, whatever its role
            else:
                specs.append(("name", v, "redis (single)" if v.startswith("redis") else "service replica"))
        return specs
    specs = []
    for svc in SERVICES:
        replicas = int(os.environ.get(f"{svc.upper()}_REPLICAS", "2"))
        specs += [("name", f"{svc}-{n}", "service replica") for n in range(1, replicas + 1)]
    for svc in SERVICES:
        if mode == "cluster":
            specs += [("pick", svc, "master"), ("pick", svc, "replica")]
        else:
            specs.append(("name", f"redis-{svc}", "redis (single)"))
    return specs


async def detect_mode(stack: Stack, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    rc, out = await stack.run("pick", "order", "master")
    return "cluster" if rc == 0 and len(out.split()) == 1 else "single"


async def resolve(stack: Stack, spec) -> tuple[str, str]:
    """The component to kill now and its role; raises LookupError when there is none."""
    how, what, role = spec
    if how == "name":
        return what, role
    rc, out = await stack.run("pick", what, role)
    if rc != 0 or len(out.split()) != 1:
        raise LookupError(f"stack.sh pick {what} {role} found none (exit {rc})")
    return out.strip(), f"redis {role}"


async def chaos(args, stack, load: Load, kills: list[Kill], down: set[str], mode: str,
                skipped: list[str]) -> None:
    log(f"steady load for {args.steady:g} s before the first kill")
    await asyncio.sleep(args.steady)
    for spec in plan(mode, args.only):
        try:
            name, role = await resolve(stack, spec)
        except LookupError as e:
            log(f"skipped: {e}")
            skipped.append(str(e))
            continue
        k = Kill(name, role, load.now())
        kills.append(k)
        down.add(name)
        rc, _ = await stack.run("kill", name)
        if rc != 0:
            raise RuntimeError(f"stack.sh kill {name} failed (exit {rc}); see stack.log")
        k.killed = load.now()
        log(f"killed {name} ({role}); down for {args.down:g} s")
        await asyncio.sleep(args.down)
        started = load.now()
        rc, _ = await stack.run("start", name)
        if rc != 0:
            raise RuntimeError(f"stack.sh start {name} failed (exit {rc}); see stack.log")
        k.recovered = load.now()
        down.discard(name)
        log(f"{name} healthy again ({k.recovered - started:.1f} s in start); settling {args.settle:g} s")
        await asyncio.sleep(args.settle)
        k.settled = load.now()
        since = [s for s in load.samples if s.end >= k.called]
        log(f"{name}: {len(since)} answers, {sum(not s.ok for s in since)} errors since its kill")


async def restore(stack: Stack, down: set[str], kills: list[Kill], now) -> bool:
    """Starts every victim still down (the run broke off); False if one would not start."""
    ok = True
    for name in sorted(down):
        log(f"restoring {name}")
        rc, _ = await stack.run("start", name)
        for k in kills:
            if k.victim == name and k.recovered is None:
                k.broken = True
                k.note = (f"the run broke off while it was down; started again at {now():.1f} s"
                          if rc == 0 else f"the run broke off while it was down; start failed (exit {rc})")
        if rc != 0:
            log(f"could not start {name} again (exit {rc}): run `env/local/stack.sh start {name}`")
            ok = False
    return ok


def settings_of(args, mode: str) -> dict:
    if mode == "cluster":
        m, r = os.environ.get("REDIS_MASTERS", "3"), os.environ.get("REDIS_REPLICAS", "1")
        desc = f"Redis Cluster per service ({m} masters, {r} replica(s) each)"
    else:
        desc = "one Redis per service (no cluster)"
    return {"mode": desc, "workers": args.workers, "gateway": args.gateway, "pause": args.pause,
            "probe_rate": args.probe_rate,
            "timeout": args.timeout, "down": args.down, "settle": args.settle}


def write_outputs(out: Path, args, mode: str, load: Load, kills: list[Kill], skipped: list[str],
                  broke: BaseException | None) -> bool:
    run_end = max([load.now()] + [s.end for s in load.samples])
    samples = sorted(load.samples, key=lambda s: s.end)
    verdicts = judge(samples, kills, run_end)
    settings = settings_of(args, mode)
    settings["notes"] = [f"skipped: {m}" for m in skipped]
    settings["status"] = getattr(args, "status", ("", ""))
    if broke is not None:
        settings["notes"].append(f"the run broke off: {type(broke).__name__}: {broke}")
    write_samples(out / "samples.csv", samples)
    write_kills(out / "kills.csv", kills)
    report = markdown(verdicts, baseline(samples, kills, run_end), settings, samples)
    (out / "report.md").write_text(report)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    plot(out / "timeline.png", samples, kills, run_end,
         f"{settings['mode']}: {args.workers} workers of fresh checkouts, one kill at a time ({stamp})")
    print(report.split("\n| # |", 1)[0].rstrip().split("\n")[-1])
    for line in report.splitlines():
        if line.startswith("|"):
            print(line)
    log(f"wrote {out}/report.md, timeline.png, samples.csv, kills.csv")
    return all(v.passed for v in verdicts)


async def main(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stack.log").write_text("")
    host = urllib.parse.urlparse(args.gateway).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        log(f"refusing {args.gateway}: only a loopback gateway (this machine's local stack)")
        return 2
    stack = Stack(Path(args.stack), out / "stack.log", args.stack_timeout)
    rc, status_before = await stack.run("status")
    if rc != 0:
        log("the stack is not up and healthy (stack.sh status); start it with `make up`")
        return 2
    mode = await detect_mode(stack, args.mode)
    log(f"mode {mode}: victims {', '.join(s[1] if s[0] == 'name' else f'redis-{s[1]} {s[2]}' for s in plan(mode, args.only))}")

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    load = Load(args.gateway, args.workers, args.pause, args.probe_rate, args.timeout, T0)
    kills: list[Kill] = []
    down: set[str] = set()
    skipped: list[str] = []
    broke = None
    try:
        await load.start()
        await chaos(args, stack, load, kills, down, mode, skipped)
    except (Exception, asyncio.CancelledError) as e:
        broke = e
        log(f"run broken off: {type(e).__name__}: {e}")
    finally:
        restored = await restore(stack, down, kills, load.now)
        log("stopping the load (in-flight requests finish)")
        await load.stop()
        _, status_after = await stack.run("status")
        args.status = (status_before, status_after)
        passed = write_outputs(out, args, mode, load, kills, skipped, broke)
    if broke is not None or not restored:
        return 1
    log("every kill met its target" if passed else "some kill missed its target")
    return 0 if passed else 1


def parse_args():
    run_dir = os.environ.get("RUN_DIR", str(REPO / "run"))
    gateway = os.environ.get("GATEWAY", f"http://127.0.0.1:{8000 + int(os.environ.get('PORT_OFFSET', '0'))}")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gateway", default=gateway)
    p.add_argument("--out", default=os.path.join(run_dir, "chaos-report"))
    p.add_argument("--stack", default=str(REPO / "env/local/stack.sh"))
    p.add_argument("--workers", type=int, default=32, help="concurrent clients (32)")
    p.add_argument("--pause", type=float, default=0.1, help="seconds each worker waits between requests (0.1)")
    p.add_argument("--probe-rate", type=float, default=8,
                   help="reads per second of each probed entity, sent open loop (8; 0: none)")
    p.add_argument("--timeout", type=float, default=20, help="per request (20 s)")
    p.add_argument("--steady", type=float, default=5, help="seconds of load before the first kill (5)")
    p.add_argument("--down", type=float, default=5, help="seconds each victim stays down (5)")
    p.add_argument("--settle", type=float, default=4, help="seconds after a victim is back (4)")
    p.add_argument("--stack-timeout", type=float, default=150, help="bound on one stack.sh call (150 s)")
    p.add_argument("--mode", choices=("auto", "cluster", "single"), default="auto")
    p.add_argument("--only", type=lambda s: [v for v in s.split(",") if v], default=None)
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
