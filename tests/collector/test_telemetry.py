"""The collector's own metrics in Prometheus text: counters, gauges, histograms, labels fixed by first use."""

from __future__ import annotations

from collector.telemetry import PrometheusTelemetry


def test_instruments_render_in_prometheus_text() -> None:
    tel = PrometheusTelemetry()
    tel.add("otelcol_exporter_sent_spans", 3, {"exporter": "otlp"}, description="Items sent")
    tel.add("otelcol_exporter_sent_spans", 2, {"exporter": "otlp"})
    tel.set("otelcol_exporter_queue_size", 7, {"exporter": "otlp"})
    tel.observe("otelcol_exporter_send_latency_seconds", 0.02, {"exporter": "otlp"})
    text = tel.render().decode()
    assert "# HELP otelcol_exporter_sent_spans_total Items sent" in text
    assert 'otelcol_exporter_sent_spans_total{exporter="otlp"} 5.0' in text
    assert 'otelcol_exporter_queue_size{exporter="otlp"} 7.0' in text
    assert 'otelcol_exporter_send_latency_seconds_count{exporter="otlp"} 1.0' in text
    assert "otelcol_process_resident_memory_bytes" in text
    assert "_created" not in text  # otelcol has no such series


def test_label_names_are_fixed_by_the_first_use() -> None:
    tel = PrometheusTelemetry()
    tel.add("otelcol_receiver_accepted_spans", 1, {"receiver": "otlp"})
    tel.add("otelcol_receiver_accepted_spans", 1, {"receiver": "otlp", "extra": "ignored"})
    tel.add("otelcol_receiver_accepted_spans", 1, {})
    text = tel.render().decode()
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp"} 2.0' in text
    assert 'otelcol_receiver_accepted_spans_total{receiver=""} 1.0' in text
