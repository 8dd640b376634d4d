"""``python -m bench.core``: the pure domain core alone, in one process, no Kafka: the ceiling of what a worker
can do per core with this engine (decode of the stored state, process_event, the outputs' data as JSON, encode
of the state).

    python -m bench.core --events 50000 --members 5000            # events/s
    python -m bench.core --events 20000 --profile                  # plus cProfile's top functions
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson

from bench.workload import achievements, events, member_ids
from loyalty_stream.domain import Event, MemberRef, MemberState, parse_achievement, process_event
from loyalty_stream.domain.events import parse_event_date


def run(count: int, members: int, seed: int) -> float:
    tz = ZoneInfo("UTC")
    catalog = {
        store: [
            parse_achievement(body, achievement_id=f"{store}-{n}", store_code=store)
            for n, body in enumerate(achievements())
        ]
        for store in ("DEFAULT", "OTHER")
    }
    people = member_ids(members, seed)
    workload = list(events(count, people, seed))
    states: dict[str, bytes] = {}
    started = time.perf_counter()
    for record in workload:
        key = record["customerData"].get("customerId") or record["customerData"]["email"]
        raw = states.get(key)
        state = MemberState.from_dict(orjson.loads(raw) if raw else {})
        now = datetime.now(UTC)
        event = Event(
            custom_event_id=record["eventId"],
            event_id=record["eventId"],
            type=record["type"],
            event_date=parse_event_date(record["eventDate"], tz),
            body=record["body"],
            created_at=now,
        )
        member = MemberRef(customer_id=key, email=None, phone=None, loyalty_card_number=None, active=True)
        store = record["storeCode"]
        result = process_event(state, event, catalog[store], member, store_code=store, tz=tz, now=now, processed=False)
        for output in result.outputs:  # what the processor sends: each output's data as JSON
            orjson.dumps(output.data)
        states[key] = orjson.dumps(result.state.to_dict())
    return count / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.core", description=__doc__)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--members", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if args.profile:
        profile = cProfile.Profile()
        rate = profile.runcall(run, args.events, args.members, args.seed)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        print(f"{rate:,.0f} events/s under cProfile")
    else:
        print(f"{run(args.events, args.members, args.seed):,.0f} events/s (domain core alone, one process)")


if __name__ == "__main__":
    main()
