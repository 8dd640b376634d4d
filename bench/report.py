"""The results table (measured vs target), the JSON file and the PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGETS = {
    "processor events/s per worker": (">=", 4000),
    "processor / pipe baseline": (">=", 0.15),
    "hot member / fresh members (per-event rate)": (">=", 0.8),
    "latency p99 ms at 2000 events/s (produce → progress record)": ("<=", 250),
    "e2e p99 ms at 2000 events/s": ("<=", 250),
    "e2e p99 ms at 50 events/s": ("<=", 100),
    "e2e p99 ms at 50 events/s after kill -9 and restart": ("<=", 100),
    "ingest single req/s": (">=", 5000),
    "ingest p99 ms at 1000 req/s (open loop)": ("<=", 50),
    "ingest batch events/s": (">=", 50000),
    "sender deliveries/s (1 endpoint)": (">=", 3000),
    "sender deliveries/s (50 endpoints)": (">=", 3000),
    "sender healthy p99 with one hanging endpoint / all healthy": ("<=", 1.5),
    "HTTP client A/B, 1 endpoint: aiohttp / httpx requests/s": (">=", 2),
    "HTTP client A/B, 50 endpoints: aiohttp / httpx requests/s": (">=", 2),
    "recovery warm s": ("<=", 10),
    "registration p50 ms (1 client)": ("<=", 20),
    "registration p99 ms (1 client)": ("<=", 100),
    "registration p50 ms (50 clients)": ("<=", 20),
    "registration p99 ms (50 clients)": ("<=", 100),
    "member import members/s (import-members)": (">=", 5000),
}


def _after_kill(step: dict[str, Any], suffix: str = ", after kill -9") -> str:
    """The label's suffix for the e2e step measured after the stack was killed and restarted."""
    return suffix if step.get("after_kill_and_restart") else ""


def rows(results: dict[str, Any]) -> list[tuple[str, Any, str, str, str]]:
    """(metric, measured, target, met, load average at the phase's start)."""
    out: list[tuple[str, Any, str, str, str]] = []

    def add(phase: str, metric: str, value: Any, note: str = "") -> None:
        load = " ".join(f"{x:.1f}" for x in results.get(phase, {}).get("load_average", []))
        target, met = "", ""
        if metric in TARGETS and value is not None:
            op, goal = TARGETS[metric]
            target = f"{op} {goal:,}"
            met = "yes" if (value >= goal if op == ">=" else value <= goal) else "no"
        out.append((metric + (f" ({note})" if note else ""), value, target, met, load))

    r = results
    for phase in r:
        if "error" in r[phase]:
            out.append((f"{phase}: FAILED", r[phase]["error"][:60], "", "", ""))
    if "events_per_s" in r.get("pipe", {}):
        add("pipe", "pipe baseline events/s", r["pipe"]["events_per_s"])
    if "events_per_s" in r.get("consumer", {}):
        add("consumer", "aiokafka consumer alone events/s", r["consumer"]["events_per_s"])
    for mode in ("stock", "patched"):
        if "events_per_s" in r.get("faust", {}).get(mode, {}):
            note = "faust-streaming as it comes" if mode == "stock" else "with processors/faust_compat.py"
            add("faust", f"bare faust agent events/s, {mode}", r["faust"][mode]["events_per_s"], note)
    if "events_per_s" in r.get("processor", {}):
        add("processor", "processor events/s per worker", r["processor"]["events_per_s"])
        if warmup := r["processor"].get("warmup"):
            add("processor", f"processor events/s, fresh broker (the {warmup['events']:,}-event warm-up before it)",
                warmup["events_per_s"])  # fmt: skip
        cpu = r["processor"].get("cpu_us_per_event")
        if cpu:
            note = f"main thread {cpu['main_thread']}, waiting for a CPU {cpu['main_thread_waiting_for_cpu']}"
            add("processor", "processor CPU µs per event (all threads)", cpu["process"], note)
        ceilings = (("pipe", "pipe baseline"), ("consumer", "aiokafka consumer"),
                    ("faust", "bare faust (patched)"), ("faust_stock", "bare faust (stock)"))  # fmt: skip
        for name, label in ceilings:
            if f"ratio_to_{name}" in r["processor"]:
                add("processor", f"processor / {label}", r["processor"][f"ratio_to_{name}"])
    hot = r.get("hot-member", {})
    if "ratio" in hot:
        note = f"{hot['hot_events_per_s']:,} vs {hot['fresh_events_per_s']:,} events/s, {hot['history']:,} before"
        add("hot-member", "hot member / fresh members (per-event rate)", hot["ratio"], note)
    lat = r.get("latency", {})
    if "latency_ms" in lat:
        rate = lat["offered_per_s"]
        note = f"{lat['with_progress']}/{lat['events']} with progress, sent {lat['achieved_send_per_s']:g}/s"
        label = f"latency p99 ms at {rate:g} events/s (produce → progress record)"
        add("latency", label, lat["latency_ms"].get("p99"), note)
        add("latency", f"latency p50 ms at {rate:g} events/s", lat["latency_ms"].get("p50"))
        add("latency", f"latency max ms at {rate:g} events/s", lat["latency_ms"].get("max"))
    for step in r.get("e2e", {}).get("steps", []):
        rate = step["offered_per_s"]
        note = f"{step['with_webhook']}/{step['events']} webhooks, sent {step['achieved_send_per_s']:g}/s"
        note += "" if step.get("sustained") else ", NOT sustained"
        p99 = step["latency_ms"].get("p99")
        after = _after_kill(step, " after kill -9 and restart")
        metric = "e2e p99 ms at 2000 events/s" if rate == 2000 else f"e2e p99 ms at {rate:g} events/s{after}"
        add("e2e", metric, p99, note)
        add("e2e", f"e2e p50 ms at {rate:g} events/s{after}", step["latency_ms"].get("p50"))
        stages = step.get("stages_ms")  # results before 2026-12-06 have no split
        for stage, name in (("to_outcome", "200→outcome"), ("outcome_to_webhook", "outcome→webhook")):
            if stages:
                add("e2e", f"e2e p99 ms {name} at {rate:g} events/s{after}", stages[stage].get("p99"))
        cores = dict(step.get("cores_during_load") or {})
        if cores:
            total = cores.pop("total")
            parts = ", ".join(f"{name} {used:g}" for name, used in sorted(cores.items(), key=lambda c: -c[1]))
            add("e2e", f"e2e cores used at {rate:g} events/s{after}", total, parts)
        sender = step.get("sender_counts")
        if sender:
            parts = ", ".join(f"{name} {count:g}" for name, count in sorted(sender.items()) if name != "deliveries")
            add("e2e", f"e2e webhook deliveries at {rate:g} events/s{after}", sender.get("deliveries"), parts)
    if "single" in r.get("ingest", {}):
        single, batch = r["ingest"]["single"], r["ingest"]["batch"]
        add("ingest", "ingest single req/s", round(single["requests_per_s"]), f"non-2xx {single['non_2xx']}")
        add("ingest", "ingest single p99 ms (wrk, 64 connections)", single.get("p99_ms"))
        paced = r["ingest"].get("paced")
        if paced:
            note = f"non-2xx {paced['non_2xx']}, sent {paced['achieved_send_per_s']:g}/s"
            add("ingest", "ingest p99 ms at 1000 req/s (open loop)", paced["http_ms"].get("p99"), note)
            add("ingest", "ingest p50 ms at 1000 req/s", paced["http_ms"].get("p50"))
        add("ingest", "ingest batch events/s", batch["events_per_s"], f"batches with errors {batch['failed_batches']}")
    for n in ("1", "50", "50x2"):
        case = r.get("sender", {}).get(n)
        if case:
            label = {"1": "1 endpoint", "50": "50 endpoints", "50x2": "50 endpoints, 2 senders in one group"}[n]
            add("sender", f"sender deliveries/s ({label})", case["deliveries_per_s"],
                f"{case['deliveries']}/{case['expected']} delivered, "
                f"{case.get('delay_topic_records', '?')} delay-topic records")  # fmt: skip
    isolation = r.get("sender", {}).get("isolation")
    if isolation:
        healthy, hanging = isolation["healthy"], isolation["one_hanging"]
        for case, label in ((healthy, "50 healthy"), (hanging, "49 healthy + 1 hanging")):
            note = f"{case['healthy_deliveries']}/{case['expected_healthy_deliveries']} delivered, p50 "
            note += f"{case['latency_ms'].get('p50')} ms"
            add("sender", f"sender p99 ms of healthy deliveries, {label}", case["latency_ms"].get("p99"), note)
        if healthy["latency_ms"].get("p99") and hanging["latency_ms"].get("p99"):
            ratio = round(hanging["latency_ms"]["p99"] / healthy["latency_ms"]["p99"], 2)
            add("sender", "sender healthy p99 with one hanging endpoint / all healthy", ratio)
    ab = r.get("sender", {}).get("clients")
    if ab:
        for n in (1, 50):
            fast, slow = ab.get(f"aiohttp {n}"), ab.get(f"httpx {n}")
            if fast and slow:
                note = f"{fast['per_s']:,} vs {slow['per_s']:,}/s; "
                note += f"CPU {fast['cpu_us']:g} vs {slow['cpu_us']:g} µs per request"
                add("sender", f"HTTP client A/B, {n} endpoint{'s' if n > 1 else ''}: aiohttp / httpx requests/s",
                    round(fast["per_s"] / slow["per_s"], 2), note)  # fmt: skip
    for case, clients in (("sequential", 1), ("concurrent", 50)):
        reg = r.get("registration", {}).get(case)
        if reg:
            note = f"{reg['registrations']} registered, {reg['failed']} failed, {reg['per_s']:g}/s"
            add("registration", f"registration p50 ms ({clients} client{'s' if clients > 1 else ''})",
                reg["latency_ms"].get("p50"), note)  # fmt: skip
            add("registration", f"registration p99 ms ({clients} client{'s' if clients > 1 else ''})",
                reg["latency_ms"].get("p99"))  # fmt: skip
    imported = r.get("registration", {}).get("import")
    if imported:
        note = f"{imported['members']} imported, {imported['refused']} refused, batches of 1,000"
        add("registration", "member import members/s (import-members)", imported["per_s"], note)
    if "warm" in r.get("recovery", {}):
        add("recovery", "recovery warm s", r["recovery"]["warm"]["seconds"])
        add("recovery", "recovery cold s", r["recovery"]["cold"]["seconds"])
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| metric | measured | target | met | load avg at start (1/5/15 min) |", "|---|---:|---|---|---|"]
    for metric, value, target, met, load in rows(results):
        shown = f"{value:,}" if isinstance(value, int | float) else str(value)
        lines.append(f"| {metric} | {shown} | {target} | {met} | {load} |")
    return "\n".join(lines)


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    series = {
        "pipe baseline (events/s)": results.get("pipe", {}).get("series"),
        "processor, 1 worker (events/s)": results.get("processor", {}).get("series"),
        "sender, 1 endpoint (deliveries/s)": results.get("sender", {}).get("1", {}).get("series"),
        "sender, 50 endpoints (deliveries/s)": results.get("sender", {}).get("50", {}).get("series"),
    }
    for step in results.get("e2e", {}).get("steps", []):
        after = _after_kill(step)
        series[f"e2e at {step['offered_per_s']:g}/s{after} (events with webhook/s)"] = step["webhook_series"]
    series = {k: v for k, v in series.items() if v}
    if series:
        fig, axes = plt.subplots(len(series), 1, figsize=(9, 2.2 * len(series)), squeeze=False)
        for ax, (title, values) in zip(axes[:, 0], series.items(), strict=True):
            ax.plot(range(len(values)), values, lw=1, marker="." if len(values) < 30 else None)
            ax.set_title(title, fontsize=9)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("seconds since the first record")
        fig.tight_layout()
        written.append(out / "throughput.png")
        fig.savefig(written[-1], dpi=90)
        plt.close(fig)

    groups: dict[str, dict[str, float]] = {}
    for step in results.get("e2e", {}).get("steps", []):
        after = _after_kill(step)
        groups[f"e2e HTTP 200→webhook\n{step['offered_per_s']:g}/s offered{after}"] = step["latency_ms"]
    ingest = results.get("ingest", {})
    for name in ("single", "batch"):
        if name in ingest:
            groups[f"ingest {name}\n(wrk)"] = {k.removesuffix("_ms"): v for k, v in ingest[name].items()
                                               if k.startswith("p") and k.endswith("_ms")}  # fmt: skip
    if groups:
        fig, ax = plt.subplots(figsize=(9, 4))
        names = ["p50", "p95", "p99"]
        for i, (_label, values) in enumerate(groups.items()):
            for j, name in enumerate(names):
                if name in values:
                    ax.bar(i + (j - 1) * 0.25, values[name], 0.25, color=f"C{j}", label=name if i == 0 else None)
        ax.set_xticks(range(len(groups)), list(groups), fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("ms (log)")
        ax.axhline(250, color="gray", ls="--", lw=0.8)
        ax.text(len(groups) - 0.5, 250, "e2e target 250 ms", fontsize=7, va="bottom", ha="right")
        ax.axhline(50, color="gray", ls=":", lw=0.8)
        ax.text(len(groups) - 0.5, 50, "ingest target 50 ms", fontsize=7, va="bottom", ha="right")
        ax.legend(fontsize=8)
        ax.set_title("latency percentiles", fontsize=9)
        fig.tight_layout()
        written.append(out / "latency.png")
        fig.savefig(written[-1], dpi=90)
        plt.close(fig)
    return written
