"""The garbage collector of a long-running service, tuned once it has started (docs/decisions.md)."""

from __future__ import annotations

import gc


def tune_collector() -> None:
    """Everything loaded at start-up lives as long as the process: out of the collector's way, and collect the
    youngest generation every 50,000 allocations instead of 700 (the collections were a tenth of a bare faust
    agent's time; docs/benchmarks.md)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
