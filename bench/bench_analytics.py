"""Analytics: what ``track_event`` costs the request, and how fast the writer thread stores events.

* ``track_event`` (CPU µs per call, inside a request context) next to the least any buffer costs: building the
  same event dict and appending it to a deque.
* The writer: events anonymized (user pseudonym, properties scrubbed) and inserted into PostgreSQL in batches of
  100, next to inserting the same number of already-built rows with the same statement (no anonymization).

Needs the PostgreSQL of the test setup (127.0.0.1:5432, database ``test``); uses a schema of its own, dropped after.

    .venv/bin/python bench/bench_analytics.py [--events N]
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from otel_distro._internal.context import REQUEST_ID
from otel_distro.analytics import Analytics
from otel_distro.analytics._event import AnalyticsEvent
from otel_distro.analytics._store import EventStore
from otel_distro.scrubbing._corpus import SENSITIVE

PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"


def pg_url(schema: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def properties(rng: random.Random, i: int) -> dict[str, object]:
    if i % 4 == 0:  # one event in four carries something to scrub
        fragment, _, _ = SENSITIVE[rng.choice(["email", "phone", "credit_card", "jwt"])](rng)
        return {"message_length": i, "note": f"user wrote: {fragment}"}
    return {"message_length": i, "has_attachments": bool(i % 2), "conversation_id": f"c-{i % 97}"}


def bench_track(events: int, key_dir: Path) -> None:
    analytics = Analytics(f"sqlite:///{key_dir / 'unused.db'}", key_file=key_dir / "key", batch_size=10**9,
                          flush_interval=3600, capacity=events + 1)
    token = REQUEST_ID.set("bench-request")
    rng = random.Random(1)
    props = [properties(rng, i) for i in range(events)]
    try:
        start = time.process_time()
        for i in range(events):
            analytics.track("chat_message_sent", props[i], user_id=f"user-{i % 1000}")
        track = time.process_time() - start
        sink: collections.deque[dict[str, object]] = collections.deque()
        start = time.process_time()
        for i in range(events):
            sink.append({"id": str(uuid.uuid4()), "name": "chat_message_sent", "properties": dict(props[i]),
                         "user_id": f"user-{i % 1000}", "request_id": REQUEST_ID.get()})
        baseline = time.process_time() - start
    finally:
        REQUEST_ID.reset(token)
        logging.getLogger("otel_distro.analytics").disabled = True  # the events are dropped on purpose
        analytics.buffer.close(timeout=0)  # nothing is written: this part measures the request side only
        logging.getLogger("otel_distro.analytics").disabled = False
    print(f"track_event: {track / events * 1e6:.2f} µs/call (CPU); dict + deque.append baseline "
          f"{baseline / events * 1e6:.2f} µs/call; ratio {track / baseline:.1f}x")


def bench_write(events: int, key_dir: Path) -> None:
    schema = f"bench_analytics_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            rng = random.Random(2)
            analytics = Analytics(pg_url(schema), key_file=key_dir / "key", scrub_key=b"b" * 32, batch_size=100,
                                  flush_interval=3600, capacity=events + 1)
            batch = [AnalyticsEvent(name="chat_message_sent", properties=properties(rng, i), user_id=f"u{i % 1000}")
                     for i in range(events)]
            analytics.track("warm_up", {})
            analytics.flush(30)  # table made, connection pooled
            start = time.perf_counter()
            analytics.add(batch)
            assert analytics.flush(300)
            written = time.perf_counter() - start
            analytics.close()

            store = EventStore(pg_url(schema))
            rows = [{"id": str(uuid.uuid4()), "name": e.name, "user_pseudonym": "[user:0123456789abcdef]",
                     "properties": dict(e.properties), "occurred_at": e.occurred_at, "received_at": e.received_at,
                     "trace_id": None, "request_id": None, "session_id": None, "source": "server"} for e in batch]
            store.insert(rows[:1])
            start = time.perf_counter()
            for i in range(1, len(rows), 100):
                store.insert(rows[i:i + 100])
            raw = time.perf_counter() - start
            store.dispose()
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(f"writer: {events / written:,.0f} events/s anonymized and stored in PostgreSQL (batches of 100); "
          f"pre-built rows, same inserts: {events / raw:,.0f} rows/s; ratio {raw / written:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_track(args.events, Path(tmp))
        bench_write(args.events // 2, Path(tmp))


if __name__ == "__main__":
    main()
