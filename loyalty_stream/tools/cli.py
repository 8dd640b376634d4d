"""``loyalty-stream``: one command for what operators do. Errors are one line, not a traceback."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from loyalty_stream.config.settings import Settings


def _run(settings: Settings, _args: argparse.Namespace) -> int:
    from loyalty_stream.tools.runner import run

    return run(settings)


def _api(settings: Settings, _args: argparse.Namespace) -> int:
    from ingest_api.app import main

    main(settings)
    return 0


def _processor(settings: Settings, args: argparse.Namespace) -> int:
    from processors.app import main

    main(settings, list(args.faust_args))
    return 0


def _sender(settings: Settings, _args: argparse.Namespace) -> int:
    from webhook_sender.service import main

    main(settings)
    return 0


def _broker(settings: Settings, args: argparse.Namespace) -> int:
    import signal
    import threading

    from loyalty_stream.tools.localkafka import LocalBroker, ensure_jars

    if args.action == "fetch":
        print(ensure_jars(settings.kafka_cache_dir))
        return 0
    broker = LocalBroker.from_settings(settings, Path(args.data_dir) if args.data_dir else None)
    if args.action == "stop":
        broker.stop_stale()
        return 0
    broker.start()
    print(f"Kafka {broker.version} on {broker.bootstrap}; Ctrl-C stops it", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    broker.stop()
    return 0


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from loyalty_stream.kafka.client import check_topics, create_topics
    from loyalty_stream.kafka.topics import build_topics

    if args.action == "create":
        created = create_topics(settings)
        print(f"{len(created)} created: {', '.join(created) or '-'}")
    elif args.action == "check":
        check_topics(settings)
        print("all topics present with the expected partitions")
    else:
        for topic in build_topics(settings).all():
            policy = "compact" if topic.compact else "delete"
            print(f"{topic.name:48} {topic.partitions:>3}  {policy:8} {topic.purpose}")
    return 0


def _receive(_settings: Settings, args: argparse.Namespace) -> int:
    from loyalty_stream.tools.receiver import serve

    serve(args.port)
    return 0


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    import threading

    from loyalty_stream.tools.ops import lag_bar, prepare_replay
    from processors.app import main

    replay = prepare_replay(
        settings, app_id=args.app_id, from_time=args.from_time, from_offset=args.from_offset, emit=args.emit
    )
    print(
        f"replaying into processor app {replay.processor_app_id!r} (webhooks {'on' if args.emit else 'off'})",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    threading.Thread(target=lag_bar, args=(replay, stop), daemon=True).start()
    try:
        from loyalty_stream.tools.procs import free_port

        main(replay.model_copy(update={"processor_web_port": args.web_port or free_port()}))
    finally:
        stop.set()
    return 0


def _dlq(settings: Settings, args: argparse.Namespace) -> int:
    from loyalty_stream.tools.ops import tail

    tail(settings, args.which, from_beginning=args.from_beginning, limit=args.limit)
    return 0


def _inspect(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from loyalty_stream.tools.ops import inspect

    print(json.dumps(inspect(settings, args.store, args.what, args.id), indent=2))
    return 0


def _import_members(settings: Settings, args: argparse.Namespace) -> int:
    from loyalty_stream.tools.import_members import PARALLEL, main

    errors = Path(args.errors) if args.errors else None
    parallel = args.parallel or PARALLEL
    return main(settings, Path(args.file), args.store, url=args.url, key=args.api_key, errors=errors, parallel=parallel)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty-stream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, tuple[Callable[[Settings, argparse.Namespace], int], str]] = {
        "run": (_run, "broker + topics + API + processor + sender, in the foreground"),
        "api": (_api, "run the ingest API"),
        "processor": (_processor, "run one processor worker"),
        "sender": (_sender, "run one webhook sender"),
        "broker": (_broker, "fetch/start/stop the local Kafka broker"),
        "topics": (_topics, "create, check or list the topics"),
        "receive": (_receive, "print webhooks that arrive on a local port (for trying things out)"),
        "replay": (_replay, "rebuild progress from the input topic in a fresh processor app (after a rule fix)"),
        "dlq": (_dlq, "tail a dead-letter topic: events, unmatched or webhooks"),
        "inspect": (_inspect, "show a member's progress or an event's outcome"),
        "import-members": (_import_members, "register members from a CSV or JSON-lines file, 1,000 per request"),
    }
    for name, (handler, help_text) in commands.items():
        command = sub.add_parser(name, help=help_text)
        command.set_defaults(handler=handler)
        if name == "broker":
            command.add_argument("action", choices=["start", "stop", "fetch"])
            command.add_argument("--data-dir", help="default: $LOYALTY_DATA_DIR/kafka")
        elif name == "topics":
            command.add_argument("action", choices=["create", "check", "list"])
        elif name == "replay":
            start = command.add_mutually_exclusive_group()
            start.add_argument("--from-time", help="ISO-8601 time to start from (broker timestamps)")
            start.add_argument("--from-offset", default="earliest", help="an offset for every partition, or earliest")
            command.add_argument("--app-id", help="processor app id (default: <app>-replay-<timestamp>)")
            command.add_argument("--emit", action="store_true", help="send progress records and webhooks again")
            command.add_argument(
                "--web-port", type=int, default=0, help="replay worker's web port (default: a free one)"
            )
        elif name == "dlq":
            command.add_argument("which", choices=["events", "unmatched", "webhooks"])
            command.add_argument("--from-beginning", action="store_true")
            command.add_argument("--limit", type=int, help="stop after this many records")
        elif name == "inspect":
            command.add_argument("what", choices=["member", "event"])
            command.add_argument("id", help="customerId, email=…, phone=…, loyaltyCardNumber=…, or customEventId")
            command.add_argument("--store", default="DEFAULT")
        elif name == "import-members":
            command.add_argument("file", help="CSV with a header row of customer fields, or JSON lines")
            command.add_argument("--store", default="DEFAULT")
            command.add_argument("--url", help="the API (default: http://127.0.0.1:$LOYALTY_API_PORT)")
            command.add_argument("--api-key", help="the store's API key (default: one of its keys in LOYALTY_STORES)")
            command.add_argument("--errors", help="write every refused member here, as JSON lines")
            command.add_argument(
                "--parallel",
                type=int,
                help="batches in flight at once (default: PARALLEL of loyalty_stream/tools/import_members.py; "
                "1: the file's order decides)",
            )
        elif name == "receive":
            command.add_argument("--port", type=int, default=9999)
        elif name == "processor":
            command.add_argument("faust_args", nargs="*", help="extra faust worker arguments")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        return int(args.handler(settings, args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line for operators; LOYALTY_DEBUG=1 shows the traceback
        import os

        if os.environ.get("LOYALTY_DEBUG"):
            raise
        print(f"loyalty-stream: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
