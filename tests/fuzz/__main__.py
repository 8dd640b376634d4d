"""``python -m tests.fuzz``: a longer schemathesis run on its own broker and stack (docs/reliability.md).

Starts a broker on free ports, the API, the processor and the webhook sender; seeds data; runs
schemathesis against our OpenAPI and against Open Loyalty's contract; prints a summary and, for any
failure, schemathesis' own report with curl commands to reproduce it. Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import httpx

from loyalty_stream.config.settings import Settings
from loyalty_stream.tools.localkafka import LocalBroker
from loyalty_stream.tools.procs import free_port
from tests.conftest import settings_for
from tests.fuzz.runner import Budget, run_both, seed
from tests.support.stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100, help="cases per operation and phase (100)")
    parser.add_argument("--max-time", type=int, default=0, help="seconds per target; fuzzing repeats until spent")
    parser.add_argument("--seed", type=int, default=None, help="schemathesis seed (default: random, printed)")
    parser.add_argument("--workers", type=int, default=1, help="more are faster; schemathesis' generator may then err")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--out", type=Path, default=None, help="where reports and logs go (default: a temp dir)")
    args = parser.parse_args(argv)
    seed_value = args.seed if args.seed is not None else random.randrange(1, 2**31)
    out = args.out or Path(tempfile.mkdtemp(prefix="loyalty-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"seed {seed_value}; reports and logs in {out}", flush=True)
    broker = LocalBroker(
        data_dir=out / "kafka", port=free_port(), controller_port=free_port(), cache_dir=Settings().kafka_cache_dir
    )
    broker.start()
    stack: Stack | None = None
    try:
        stack = Stack(settings_for(broker, out), out / "logs").start("api", "processor", "sender")
        with httpx.Client(base_url=stack.api, timeout=30) as client:
            seeded = seed(client)
        budget = Budget(
            max_examples=args.max_examples,
            seed=seed_value,
            phases=args.phases,
            max_time=args.max_time or None,
            workers=args.workers,
            timeout=max(3600.0, 3.0 * args.max_time),
        )
        outcomes = run_both(stack.api, seeded, out / "schemathesis", budget)
    finally:
        if stack is not None:
            stack.stop()
        broker.stop()
    for outcome in outcomes:
        print(outcome.summary())
    for outcome in outcomes:
        if not outcome.ok:
            print(f"\n##### {outcome.name}\n{outcome.details()}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
