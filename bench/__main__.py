"""``python -m bench``: every phase of issue 7 on a broker of its own; a table, JSON and PNG plots in bench/results/.

python -m bench                                 # default sizes (see --help)
python -m bench --events 1000000                # the issue's full size: 1M events, 100k members
python -m bench --phases pipe,processor         # a subset
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import api, ceilings, member_load, pipeline, registration, report
from bench import sender as sender_phase
from bench.harness import bench_settings, load_average, start_broker
from bench.workload import member_ids
from loyalty_stream.config.settings import Settings

PHASES = (
    "pipe", "consumer", "faust", "processor", "hot-member", "latency", "recovery", "sender", "ingest",
    "registration", "e2e",
)  # fmt: skip


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.logs = self.out / "logs"
        self.results: dict[str, Any] = {}
        self.people = member_ids(args.members, args.seed)
        self.broker, self.workdir = start_broker()
        self._preloaded: pipeline.Preloaded | None = None

    def settings(self, prefix: str) -> Settings:
        """Settings (and topics) of one phase: its own topic prefix, processor app and sender group."""
        name = prefix.strip(".")
        return bench_settings(self.broker, self.workdir, topic_prefix=prefix, processor_app_id=f"bench-{name}",
                              sender_group=f"bench-{name}-sender")  # fmt: skip

    def preloaded(self) -> pipeline.Preloaded:
        if self._preloaded is None:
            self._preloaded = pipeline.preload(self)
        return self._preloaded

    def e2e_rates(self) -> list[float]:
        """``auto``: a quarter of what the processor drained alone (in the full stack it shares the 2 cores with
        the API, the sender, the receiver and the load generator), or 50/s without a processor phase."""
        processor_rate = self.results.get("processor", {}).get("events_per_s")
        auto = max(20, round(processor_rate / 4, -1)) if processor_rate else 50
        return [auto if r == "auto" else float(r) for r in self.args.e2e_rates.split(",")]

    def phase(self, name: str) -> None:
        print(f"\n== {name} (load average {' '.join(map(str, load_average()))})", flush=True)
        entry: dict[str, Any] = {"load_average": load_average(), "uptime": _sh("uptime")}
        started = time.monotonic()
        try:
            if name == "pipe":
                entry.update(pipeline.pipe(self, self.preloaded()))
            elif name == "consumer":
                entry.update(ceilings.consumer(self, self.preloaded()))
            elif name == "faust":
                entry.update(ceilings.faust(self, self.preloaded()))
            elif name == "hot-member":
                entry.update(member_load.hot_member(self))
            elif name == "latency":
                entry.update(member_load.latency(self))
            elif name == "processor":
                entry.update(pipeline.processor(self, self.preloaded()))
            elif name == "recovery":
                entry.update(pipeline.recovery(self, self.preloaded()))
            elif name == "sender":
                entry.update(sender_phase.sender(self))
            elif name == "ingest":
                entry.update(api.ingest(self))
            elif name == "registration":
                entry.update(registration.registration(self))
            elif name == "e2e":
                entry.update(api.e2e(self))
        except Exception as exc:  # the other phases still run; the table shows the failure
            traceback.print_exc()
            entry["error"] = f"{type(exc).__name__}: {exc}"
        entry["phase_seconds"] = round(time.monotonic() - started, 1)
        self.results[name] = entry

    def close(self) -> None:
        self.broker.stop()
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _sh(command: str) -> str:
    try:
        return subprocess.run(command, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "free_g": _sh("free -g"),
        "python": platform.python_version(),
        "commit": _sh("git rev-parse --short HEAD"),
        "dirty": bool(_sh("git status --porcelain -- processors ingest_api webhook_sender loyalty_stream schemas")),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    ap.add_argument("--events", type=int, default=100_000, help="pre-loaded events (issue 7: 1000000)")
    ap.add_argument("--members", type=int, default=100_000, help="members, half per store (issue 7: 100000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--e2e-rates", default="50,2000,auto", help="offered events/s, one step each; auto = a quarter "
                    "of the processor's rate")  # fmt: skip
    ap.add_argument("--e2e-seconds", type=float, default=10, help="seconds of offered load per e2e step")
    ap.add_argument("--e2e-restart-rate", type=float, default=50, help="events/s of one more e2e step after a "
                    "kill -9 of the API, processor and sender and their restart, once ready (0: none)")  # fmt: skip
    ap.add_argument("--processor-warmup", type=int, default=30_000, help="events a worker drains on topics of "
                    "its own before the processor phase measures, 0 for none (the broker's JIT compiler: "
                    "docs/benchmarks.md)")  # fmt: skip
    ap.add_argument("--latency-rate", type=float, default=2000, help="events/s produced in the latency phase")
    ap.add_argument("--latency-seconds", type=float, default=30, help="measured seconds of load, latency phase")
    ap.add_argument("--latency-warmup", type=float, default=30, help="seconds of the same load, then drained, "
                    "before the latency phase measures (the broker's JIT compiler: docs/benchmarks.md)")  # fmt: skip
    ap.add_argument("--ingest-seconds", type=int, default=15, help="seconds per wrk run")
    ap.add_argument("--registrations", type=int, default=2000, help="POST /member from 50 clients (and a quarter "
                    "of it sequentially)")  # fmt: skip
    ap.add_argument("--sender-deliveries", type=int, default=20_000, help="deliveries per sender case")
    ap.add_argument("--timeout", type=float, default=7200, help="longest wait for any drain")
    ap.add_argument("--no-profile", dest="profile", action="store_false", help="skip the py-spy profiles")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--docs", action="store_true", help="also copy the plots to docs/benchmarks/")
    ap.add_argument("--keep", action="store_true", help="keep the broker's and processors' data directory")
    args = ap.parse_args(argv)
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        ap.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop every child, the broker
    Path(args.out).mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "args": vars(args),
    }
    started = time.monotonic()
    run = Run(args)
    try:
        for name in PHASES:  # always in this order: recovery needs the processor's state
            if name in args.phases.split(","):
                run.phase(name)
    finally:
        run.close()
    document["total_seconds"] = round(time.monotonic() - started)
    document["results"] = run.results
    out = Path(args.out)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for path in (out / f"bench-{stamp}.json", out / "latest.json"):
        path.write_text(json.dumps(document, indent=1))
    pngs = report.plots(run.results, out)
    if args.docs:
        docs = Path(__file__).parent.parent / "docs" / "benchmarks"
        docs.mkdir(parents=True, exist_ok=True)
        for png in pngs:
            shutil.copy(png, docs / png.name)
    print("\n" + report.table(run.results))
    print(f"\n{document['total_seconds']} s; results in {out}/latest.json, plots {', '.join(p.name for p in pngs)}")
    return 1 if any("error" in r for r in run.results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
