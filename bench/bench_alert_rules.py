"""``alert_rules`` throughput: log records and spans per CPU-second through the processor with the rules shipped in
otel-collector.yaml (error bursts, spikes, new exception types, silent services, slow server spans), next to the
``pii`` processor on the same batches in the same run (the other custom processor of every pipeline) as the
baseline. CPU seconds of this process, best of a few runs; alerts are evaluated but not sent (no Alertmanager).

    .venv/bin/python bench/bench_alert_rules.py [--batches N] [--batch-size N]
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.component import ComponentID, CreateSettings, Kind
from collector.config import load
from collector.pdata import Batch, Signal
from collector.processors import alert_rules, pii
from collector.processors._actions import to_any_value

ROOT = Path(__file__).resolve().parent.parent

SEVERITIES = [(9, "INFO")] * 14 + [(13, "WARN")] * 3 + [(17, "ERROR")] * 2 + [(5, "DEBUG")]
EXCEPTIONS = ["KeyError", "TimeoutError", "ValueError", "sqlalchemy.exc.OperationalError"]
ROUTES = ["/chat/messages", "/login", "/images/generate", "/health", "/users/{user_id}"]


def log_batches(n: int, size: int, rng: random.Random) -> list[Batch]:
    out = []
    for b in range(n):
        request = ExportLogsServiceRequest()
        rl = request.resource_logs.add()
        rl.resource.attributes.add(key="service.name", value=to_any_value(f"svc-{b % 8}"))
        rl.resource.attributes.add(key="service.namespace", value=to_any_value("shop"))
        scope = rl.scope_logs.add()
        for i in range(size):
            number, text = rng.choice(SEVERITIES)
            rec = scope.log_records.add(severity_number=number, severity_text=text,  # type: ignore[arg-type]
                                        trace_id=rng.randbytes(16), span_id=rng.randbytes(8))
            rec.body.string_value = f"request {i} for user {rng.randint(1, 10**6)} finished in {rng.random():.3f}s"
            rec.attributes.add(key="http.route", value=to_any_value(rng.choice(ROUTES)))
            rec.attributes.add(key="request_id", value=to_any_value(rng.randbytes(8).hex()))
            if number >= 17:
                rec.attributes.add(key="exception.type", value=to_any_value(rng.choice(EXCEPTIONS)))
        out.append(Batch(Signal.LOGS, request))
    return out


def span_batches(n: int, size: int, rng: random.Random) -> list[Batch]:
    out = []
    for b in range(n):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=to_any_value(f"svc-{b % 8}"))
        scope = rs.scope_spans.add()
        for _ in range(size):
            route = rng.choice(ROUTES)
            start = 1_700_000_000_000_000_000
            duration = rng.expovariate(2.0)  # mean 0.5 s: a few above 5 s
            span = scope.spans.add(name=f"GET {route}", kind=rng.choice([Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT,
                                                                         Span.SPAN_KIND_INTERNAL]),
                                   trace_id=rng.randbytes(16), span_id=rng.randbytes(8),
                                   start_time_unix_nano=start, end_time_unix_nano=start + int(duration * 1e9))
            span.attributes.add(key="http.route", value=to_any_value(route))
            span.attributes.add(key="http.response.status_code", value=to_any_value(rng.choice([200] * 9 + [500])))
        out.append(Batch(Signal.TRACES, request))
    return out


def _run(proc: Callable[[Batch], Batch], batches: list[Batch]) -> None:
    for batch in batches:
        proc(batch)


def best_cpu(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))  # alert_fired lines
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(7)
    shipped = load(ROOT / "otel-collector.yaml", environ={})
    rules_cfg: alert_rules.Config = shipped.component(Kind.PROCESSOR, ComponentID("alert_rules")).config
    rules_cfg = rules_cfg.model_copy(update={"storage": None})
    print(f"alert_rules: {len(rules_cfg.rules)} shipped rules; {args.batches} batches of {args.batch_size}")
    for signal, batches in ((Signal.LOGS, log_batches(args.batches, args.batch_size, rng)),
                            (Signal.TRACES, span_batches(args.batches, args.batch_size, rng))):
        items = args.batches * args.batch_size
        rules = alert_rules.create(CreateSettings(ComponentID("alert_rules"), signal=signal), rules_cfg)
        scrub = pii.create(CreateSettings(ComponentID("pii"), signal=signal), pii.Config())

        rules_s = best_cpu(lambda proc=rules, data=batches: _run(proc, data))
        pii_s = best_cpu(lambda proc=scrub, data=batches: _run(proc, data))
        unit = "log records" if signal is Signal.LOGS else "spans"
        print(f"{unit:>11}: alert_rules {items / rules_s:>10,.0f}/CPU-s   pii {items / pii_s:>10,.0f}/CPU-s   "
              f"alert_rules costs {rules_s / pii_s:.2f}x of pii")


if __name__ == "__main__":
    main()
