"""Scrubbing throughput: the engine, ``otel-distro scrub`` and the ``pii`` processor, next to Presidio.

Presidio's pattern recognizers (its default English registry without the spaCy NER, which cannot be downloaded
here) run on the same records in the same process, as the baseline every ratio is against. A second same-run
baseline calibrates the machine: one e-mail regex substituted by Python's `re` over the realistic lines (the
least a scrubber can do); its ratio moves less than MB/s when the shared machine is busy. Times are CPU
seconds of this process, best of a few runs. Also printed: recall, strict recall and keep on the labelled and
held-out corpora, issue 14's targets (dense >= 10 MB/s, realistic mix >= 30 MB/s), and the time of hostile
20 KB lines.

    .venv/bin/python bench/bench_scrub.py [--records N] [--presidio-records N]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.component import ComponentID, CreateSettings
from collector.pdata import Batch, Signal
from collector.processors import pii
from otel_distro.scrubbing import Scrubber
from otel_distro.scrubbing._corpus import COMMON_SHAPES, Record, generate, score
from otel_distro.scrubbing._heldout import generate_heldout
from otel_distro.scrubbing._validators import phone_valid
from otel_distro.scrubbing.cli import scrub_stream


def forget_clean_texts(scrubber: Any) -> None:
    """Empty the engine's memo of recently seen clean texts, so that a repeated run measures the corpus as new
    text (in production values repeat and hit it; here that would only flatter the later runs)."""
    memo = getattr(scrubber, "_clean", None)
    if isinstance(memo, dict):
        memo.clear()


def best_cpu(fn: Callable[[], Any], repeat: int = 3, before: Callable[[], Any] | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def mb_s(n_bytes: int, seconds: float) -> float:
    return n_bytes / seconds / 1e6 if seconds > 0 else float("inf")


# --- Presidio baseline ---------------------------------------------------------------------------------------------


def presidio_scrubber() -> Callable[[str], str] | None:
    try:
        from presidio_analyzer import RecognizerRegistry  # noqa: PLC0415
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer  # noqa: PLC0415
    except ImportError:
        print("presidio-analyzer is not installed (pip install -e '.[bench]'): no baseline")
        return None
    try:  # Presidio's e-mail check asks tldextract, which would fetch the suffix list: use its bundled copy
        import tldextract  # noqa: PLC0415

        tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    except ImportError:
        pass
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    recognizers = [r for r in registry.get_recognizers(language="en", all_fields=True)
                   if not isinstance(r, SpacyRecognizer)]

    def scrub(text: str) -> str:
        spans: list[tuple[int, int, str]] = []
        for rec in recognizers:
            for res in rec.analyze(text, entities=rec.supported_entities, nlp_artifacts=None) or ():
                spans.append((res.start, res.end, res.entity_type))
        spans.sort(key=lambda s: (s[0], -s[1]))
        out, pos = [], 0
        for start, end, entity in spans:
            if start < pos:
                continue
            out.append(text[pos:start])
            out.append(f"<{entity}>")
            pos = end
        out.append(text[pos:])
        return "".join(out)

    return scrub


class _Adapter(Scrubber):
    """Lets the corpus scorer run any `str -> str` function."""

    def __init__(self, fn: Callable[[str], str]) -> None:
        self._fn = fn

    def scrub_text(self, text: str, counts: Counter[str] | None = None) -> str:
        return self._fn(text)


# --- OTLP batches from the corpus ----------------------------------------------------------------------------------


def span_request(records: list[Record]) -> bytes:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for i, rec in enumerate(records):
        span = spans.add()
        span.trace_id = os.urandom(16)
        span.span_id = os.urandom(8)
        span.name = "GET /api/v1/orders/{id}"
        span.attributes.add(key="http.route").value.string_value = "/api/v1/orders/{id}"
        span.attributes.add(key="http.status_code").value.int_value = 200
        span.attributes.add(key="db.statement" if i % 2 else "message").value.string_value = rec.text
        for kind, value in rec.keep[:2]:
            span.attributes.add(key=f"app.{kind}").value.string_value = value
    return req.SerializeToString()


def log_request(records: list[Record]) -> bytes:
    req = ExportLogsServiceRequest()
    logs = req.resource_logs.add().scope_logs.add().log_records
    for rec in records:
        record = logs.add()
        record.trace_id = os.urandom(16)
        record.severity_text = "INFO"
        record.body.string_value = rec.text
        record.attributes.add(key="logger").value.string_value = "app.api"
        record.attributes.add(key="shape").value.string_value = rec.shape
    return req.SerializeToString()


def bench_processor(signal: Signal, data: bytes) -> float:
    proc = pii.create(CreateSettings(ComponentID("pii")), pii.Config())
    best = float("inf")
    for _ in range(3):
        batch = Batch.from_bytes(signal, data)  # fresh: the processor edits in place
        forget_clean_texts(getattr(proc, "_scrubber", None))
        start = time.process_time()
        proc(batch)
        best = min(best, time.process_time() - start)
    return mb_s(len(data), best)


# --- main ------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--presidio-records", type=int, default=400)
    args = parser.parse_args(argv)

    engine = Scrubber()
    # The realistic mix: the everyday shapes, one record in ten carrying PII. Dense: every record carries PII,
    # in all the tuning corpus's shapes, and in the held-out corpus's twelve.
    realistic = generate(args.records, seed=42, pii_rate=0.1, shapes=COMMON_SHAPES)
    dense = generate(args.records // 4, seed=43, pii_rate=1.0)
    heldout = generate_heldout(3000, seed=90210)
    texts = [r.text for r in realistic]
    dense_texts = [r.text for r in dense]
    heldout_texts = [r.text for r in heldout]
    realistic_bytes = sum(len(t.encode()) for t in texts)
    dense_bytes = sum(len(t.encode()) for t in dense_texts)
    heldout_bytes = sum(len(t.encode()) for t in heldout_texts)
    for t in texts[:2000] + dense_texts[:500] + heldout_texts[:500]:  # warm the lazily built RE2 DFAs
        engine.scrub_text(t)

    print(f"corpus: {len(texts)} realistic records (10% carry PII), {realistic_bytes / 1e6:.1f} MB; "
          f"{len(dense_texts)} dense records (all carry PII), {dense_bytes / 1e6:.1f} MB; "
          f"{len(heldout_texts)} held-out dense records, {heldout_bytes / 1e6:.1f} MB")
    print()
    rows: list[tuple[str, float]] = []

    def cold() -> None:
        forget_clean_texts(engine)

    email = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    calibration = mb_s(realistic_bytes, best_cpu(lambda: [email.sub("[REDACTED:email]", t) for t in texts]))
    targets = {"engine scrub_text, realistic mix": 30.0, "engine scrub_text, dense PII (tuning shapes)": 10.0,
               "engine scrub_text, dense PII (held-out shapes)": 10.0}
    rows.append(("engine scrub_text, realistic mix", mb_s(realistic_bytes, best_cpu(
        lambda: [engine.scrub_text(t) for t in texts], before=cold))))
    rows.append(("engine scrub_text, dense PII (tuning shapes)", mb_s(dense_bytes, best_cpu(
        lambda: [engine.scrub_text(t) for t in dense_texts], before=cold))))
    rows.append(("engine scrub_text, dense PII (held-out shapes)", mb_s(heldout_bytes, best_cpu(
        lambda: [engine.scrub_text(t) for t in heldout_texts], before=cold))))

    # Lines as `otel-distro scrub` reads them (one record per line; multi-line records joined).
    stream = "\n".join(t.replace("\r\n", " ").replace("\n", " ") for t in texts).encode() + b"\n"
    rows.append(("otel-distro scrub (in-process stream)", mb_s(len(stream), best_cpu(
        lambda: scrub_stream(engine, io.BytesIO(stream), io.BytesIO(), Counter()), before=cold))))
    with tempfile.NamedTemporaryFile(suffix=".log") as f:
        f.write(stream * 10)
        f.flush()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(f.name, "rb") as src:
            proc = subprocess.run([sys.executable, "-m", "otel_distro.cli", "scrub"], stdin=src,
                                  capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows.append(("otel-distro scrub (subprocess, CPU incl. startup)", mb_s(len(stream) * 10, child_cpu)))
        if proc.stdout.count(b"\n") != stream.count(b"\n") * 10:
            print("ERROR: the CLI did not keep one line per line")
            return 1

    chunks = [realistic[i:i + 500] for i in range(0, min(len(realistic), 5000), 500)]
    span_data = [span_request(c) for c in chunks]
    log_data = [log_request(c) for c in chunks]
    span_rates = [bench_processor(Signal.TRACES, d) for d in span_data]
    log_rates = [bench_processor(Signal.LOGS, d) for d in log_data]
    rows.append(("pii processor, spans (MB of OTLP protobuf)", sorted(span_rates)[len(span_rates) // 2]))
    rows.append(("pii processor, logs (MB of OTLP protobuf)", sorted(log_rates)[len(log_rates) // 2]))

    baseline = None
    presidio = presidio_scrubber()
    if presidio is not None:
        sample = texts[: args.presidio_records]
        sample_bytes = sum(len(t.encode()) for t in sample)
        presidio(sample[0])
        baseline = mb_s(sample_bytes, best_cpu(lambda: [presidio(t) for t in sample], repeat=1))
        rows.append(("Presidio pattern recognizers, realistic", baseline))

    rows.append(("baseline: one e-mail regex (Python re.sub), realistic", calibration))
    width = max(len(name) for name, _ in rows)
    print(f"{'throughput (one core, CPU time)':<{width}}  {'MB/s':>9}  {'x Presidio':>10}  {'x e-mail re':>11}  target")
    for name, rate in rows:
        ratio = f"{rate / baseline:>10.0f}" if baseline else f"{'-':>10}"
        target = targets.get(name)
        verdict = "" if target is None else f">= {target:.0f} MB/s: {'met' if rate >= target else 'NOT met'}"
        print(f"{name:<{width}}  {rate:>9.2f}  {ratio}  {rate / calibration:>11.3f}  {verdict}")
    print()

    for label, records in (("dense tuning corpus", dense), ("held-out corpus", heldout)):
        ours = score(records, engine)
        print(f"this engine on the {label}: recall {ours.recall_rate:.4f}, strict {ours.strict_rate:.4f}, "
              f"keep {ours.keep_rate:.4f}")
    if presidio is not None:
        theirs = score(dense[: args.presidio_records], _Adapter(presidio))
        print(f"Presidio on {args.presidio_records} dense records: recall {theirs.recall_rate:.4f}, "
              f"keep {theirs.keep_rate:.4f}")
        worst = sorted(theirs.keep.items(), key=lambda kv: kv[1][0] / kv[1][1])[:6]
        print("  Presidio keep, worst kinds: " + ", ".join(f"{k} {a / b:.2f}" for k, (a, b) in worst))
    print()

    hostile = {
        "20 KB of digits": "7" * 20_000,
        "20 KB of spaced digits": "5 " * 10_000,
        "20 KB of @": "a@" * 10_000,
        "20 KB of key=": "password=" * 2_222,
        "20 KB of +1": "+1" * 10_000,
        "20 KB of %4": "%4" * 10_000,
        "20 KB of '0 5'": "0 5" * 6_667,
        "20 KB of card groups": "4111 " * 4_000,
        "20 KB PEM without END": "-----BEGIN PRIVATE KEY-----" + "A" * 20_000,
        "20 KB distinct +phones": " ".join(f"+{i % 97 + 1} {i:03d} {i * 7 % 1000:03d} {i % 89:02d} 1{i % 10}"
                                           for i in range(1100))[:20_000],
        "20 KB distinct 0 5xx": " ".join(f"0 5{i % 100:02d} {i:03d} {i % 97:02d} {i % 89:02d}9"
                                         for i in range(1300))[:20_000],
    }
    print(f"{'hostile line (cold caches)':<26} {'ms':>8}")
    for name, line in hostile.items():
        phone_valid.cache_clear()  # each line once, as new: no memoised libphonenumber answers
        start = time.process_time()
        engine.scrub_text(line)
        print(f"{name:<26} {(time.process_time() - start) * 1e3:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
