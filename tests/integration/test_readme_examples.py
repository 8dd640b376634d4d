"""The README's Kafka-direct producer examples run as written and produce records the processor reads."""

from __future__ import annotations

import os
import re
from pathlib import Path

from processors.intake import decode
from schemas.serde import Serde
from tests.support.topics import TopicReader

ROOT = Path(__file__).resolve().parents[2]
SECTION = (ROOT / "README.md").read_text().split("## Producing straight to Kafka", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, re.S)


def test_producer_examples_write_records_we_decode(make_settings) -> None:
    settings = make_settings()
    topic = settings.topic_prefix + "custom-events"
    producers = [b for b in BLOCKS if "producer.produce(" in b]
    assert len(producers) == 2  # JSON and Avro
    cwd = os.getcwd()
    os.chdir(ROOT)  # the Avro example opens schemas/custom_event.avsc
    try:
        for block in producers:
            code = block.replace("127.0.0.1:9092", settings.bootstrap_servers).replace(
                '"loyalty.custom-events"', repr(topic)
            )
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    reader = TopicReader(settings, topic)
    reads = reader.wait_for(lambda rs: len(rs) >= 2, what="both examples' records")
    reader.close()
    decoded = [decode(Serde(), r.value) for r in reads]
    assert [d[0] for d in decoded] == ["CustomEvent", "CustomEvent"]
    assert {d[1]["eventId"] for d in decoded} == {"login-2024-05-01-john"}
    assert all(d[1]["customerData"]["email"] == "john.smith@example.com" for d in decoded)
