"""The naive Faust agent of ``bench.worker``: what a first Faust roll-up looks like.

Per event: decode the Avro report, replace the commune's previous figures in a dict of
provincial sums, send one output record (the province's running figures as JSON). No
validation, no state table, no changelog, no checkpoint order: the baseline the real worker
is compared with in the same run, on the same backlog.

With ``--empty`` the agent does nothing with an event but count it: Faust's own floor on
this machine (consume, the event and its acknowledgement), with the same app settings.

Run by ``bench.worker`` as ``python -m bench.naive_agent APP_ID TOPIC OUT_TOPIC EXPECTED
[--empty]`` with the ``BAOCAO_KAFKA_*`` settings in the environment. It prints one line,
``naive <events> <first_event_unix> <last_event_unix>``, once it handled ``EXPECTED`` events,
and stops.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

import faust

from baocao.core.avro import codec_for
from baocao.core.settings import Settings
from baocao.streams.security import broker_credentials


def build(
    app_id: str, source: str, sink: str, expected: int, *, datadir: str, empty: bool = False
) -> faust.App:
    kafka = Settings().kafka
    app = faust.App(
        app_id,
        broker=[f"kafka://{s.strip()}" for s in kafka.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(kafka),
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=kafka.partitions,
        # Faust makes its data folder even for memory tables: not in the caller's directory.
        datadir=datadir,
    )
    codec = codec_for("commune_report.v2")
    source_topic = app.topic(source, key_serializer="raw", value_serializer="raw")
    out = app.topic(sink, key_serializer="raw", value_serializer="raw")
    latest: dict[str, dict[str, float]] = {}
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    seen = {"count": 0, "first": 0.0}

    def count_one() -> None:
        if not seen["count"]:
            seen["first"] = time.time()
        seen["count"] += 1
        if seen["count"] == expected:
            print(f"naive {expected} {seen['first']:.6f} {time.time():.6f}", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)

    async def floor(stream: Any) -> None:
        async for _ in stream:
            count_one()

    async def rollup(stream: Any) -> None:
        async for value in stream:
            report = codec.decode(value)
            key = f"{report['province_code']}|{report['period']}"
            commune = f"{report['commune_code']}|{report['period']}"
            figures = sums[key]
            for code, number in latest.get(commune, {}).items():
                figures[code] -= number
            for code, number in report["indicators"].items():
                figures[code] += number
            latest[commune] = report["indicators"]
            await out.send(key=key.encode(), value=json.dumps(figures).encode())
            count_one()

    app.agent(source_topic, name="naive")(floor if empty else rollup)
    return app


def main() -> None:
    app_id, source, sink, expected = sys.argv[1:5]
    with tempfile.TemporaryDirectory(prefix=f"{app_id}-") as datadir:
        empty = "--empty" in sys.argv[5:]
        app = build(app_id, source, sink, int(expected), datadir=datadir, empty=empty)
        faust.Worker(app, loglevel="WARNING").execute_from_commandline()


if __name__ == "__main__":
    main()
