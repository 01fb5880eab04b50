"""``otlp`` receiver: OTLP over gRPC (default localhost:4317) and HTTP (default localhost:4318).

Config -> factory -> runtime, as every component; the two servers live in `.grpc` and `.http`, what they share
(decoding limits, answers, auth) in `.common`. Without ``protocols`` both servers run; with it, only those named
(``grpc:`` with no value enables gRPC on its defaults), as in otelcol.
"""

from __future__ import annotations

from collections.abc import Mapping

from collector.component import Consumer, CreateSettings
from collector.pdata import Signal
from collector.receivers.otlp.config import Config, GrpcConfig, HttpConfig
from collector.receivers.otlp.receiver import OtlpReceiver

__all__ = ["SIGNALS", "TYPE", "Config", "GrpcConfig", "HttpConfig", "OtlpReceiver", "create"]

TYPE = "otlp"
SIGNALS = frozenset(Signal)


def create(settings: CreateSettings, config: Config, consumers: Mapping[Signal, Consumer]) -> OtlpReceiver:
    return OtlpReceiver(settings, config, consumers)
