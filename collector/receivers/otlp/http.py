"""OTLP/HTTP server (aiohttp): ``POST /v1/traces|metrics|logs``, protobuf or JSON, optionally gzip.

Answers, per the OTLP spec: 200 with an export response (``partial_success`` when part was rejected); 400 for
an undecodable body, with a ``google.rpc.Status`` message; 401 without the bearer token; 405 for other
methods; 413 above ``max_request_body_size`` on the wire or ``max_decompressed_body_size`` inflated; 415 for
other content types or encodings; 503 + ``Retry-After`` when the pipeline refuses (back-pressure).
Responses use the request's encoding. CORS preflights are answered for ``cors.allowed_origins``.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
from google.rpc import status_pb2  # type: ignore[import-untyped]

from collector import otlpjson
from collector.component import Consumer
from collector.errors import Refused
from collector.memory import LEDGER, Holding
from collector.net import split_endpoint
from collector.pdata import Signal
from collector.receivers.otlp.common import (
    BodyTooLarge,
    UnsupportedEncoding,
    bearer_ok,
    decode,
    decompress,
    make_response,
)
from collector.receivers.otlp.config import HttpConfig

__all__ = ["HttpServer"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_SAFE_HEADERS = ("Content-Type", "Content-Encoding", "Accept", "Accept-Encoding", "X-Requested-With")
# gRPC codes carried in the Status body, as otelcol does
_CODE_FOR_STATUS = {400: 3, 401: 16, 405: 12, 413: 8, 415: 3, 500: 13, 503: 14}


class HttpServer:
    def __init__(self, config: HttpConfig, consumers: Mapping[Signal, Consumer], logger: Any, *,
                 reuse_port: bool = False) -> None:
        self._config = config
        self._reuse_port = reuse_port
        self._consumers = consumers
        self._log = logger
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def endpoint(self) -> str:
        return self._config.endpoint

    def _app(self) -> web.Application:
        # aiohttp's own body limit is set above ours so that we answer 413 with a Status body ourselves.
        app = web.Application(client_max_size=self._config.max_request_body_size + 1)
        paths = {
            Signal.TRACES: self._config.traces_url_path,
            Signal.METRICS: self._config.metrics_url_path,
            Signal.LOGS: self._config.logs_url_path,
        }
        for signal, consumer in self._consumers.items():
            app.router.add_route("*", paths[signal], self._handler(signal, consumer))
        return app

    async def start(self) -> None:
        # auto_decompress off: we inflate ourselves, under max_decompressed_body_size
        self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=10.0, auto_decompress=False)
        await self._runner.setup()
        host, port = split_endpoint(self._config.endpoint)
        tls = self._config.tls.ssl_context() if self._config.tls is not None else None
        site = web.TCPSite(self._runner, host, port, backlog=1024, ssl_context=tls,
                           reuse_port=self._reuse_port or None)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # stops listening, then waits for requests in progress
            self._runner = None

    # -- answers --

    def _cors_headers(self, request: web.Request) -> dict[str, str]:
        cors = self._config.cors
        origin = request.headers.get("Origin")
        if cors is None or not origin:
            return {}
        if not any(fnmatch.fnmatchcase(origin, pattern) for pattern in cors.allowed_origins):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    @staticmethod
    def _status(status: int, message: str, content_type: str, headers: Mapping[str, str] | None = None
                ) -> web.Response:
        st = status_pb2.Status(code=_CODE_FOR_STATUS.get(status, 2), message=message)
        if content_type == JSON:
            body = json.dumps({"code": st.code, "message": message}).encode()
        else:
            body, content_type = st.SerializeToString(), PROTOBUF
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)

    def _preflight(self, request: web.Request) -> web.Response:
        headers = self._cors_headers(request)
        cors = self._config.cors
        if headers and cors is not None:
            headers["Access-Control-Allow-Methods"] = "POST"
            allowed = [*_SAFE_HEADERS, *cors.allowed_headers]
            if self._config.auth is not None:
                allowed.append("Authorization")
            headers["Access-Control-Allow-Headers"] = ", ".join(allowed)
            if cors.max_age:
                headers["Access-Control-Max-Age"] = str(cors.max_age)
        return web.Response(status=204, headers=headers)

    def _handler(self, signal: Signal, consumer: Consumer) -> Any:
        config = self._config
        auth_token = config.auth.bearer_token if config.auth is not None else None

        async def handle(request: web.Request) -> web.StreamResponse:
            with LEDGER.holding("receiver") as held:  # the body, from read until the pipeline returned
                return await receive(request, held)

        async def receive(request: web.Request, held: Holding) -> web.StreamResponse:
            if request.method == "OPTIONS" and config.cors is not None:
                return self._preflight(request)
            cors = self._cors_headers(request) if config.cors is not None else {}
            ctype = request.content_type
            reply_type = JSON if ctype == JSON else PROTOBUF
            if request.method != "POST":
                return self._status(405, f"method {request.method} not allowed, use POST", reply_type,
                                    {"Allow": "POST", **cors})
            if auth_token is not None and not bearer_ok(request.headers.get("Authorization"), auth_token):
                return self._status(401, "missing or invalid bearer token", reply_type,
                                    {"WWW-Authenticate": "Bearer", **cors})
            if ctype not in (PROTOBUF, JSON):
                return self._status(415, f"unsupported Content-Type {ctype!r} (use {PROTOBUF} or {JSON})",
                                    PROTOBUF, cors)
            length = request.content_length
            if length is not None and length > config.max_request_body_size:
                return self._status(413, f"body of {length} bytes exceeds {config.max_request_body_size}",
                                    reply_type, {**cors, "Connection": "close"})
            refusal = LEDGER.refusal(length or 0)
            if refusal is not None:  # before reading the body: an overloaded collector does not take it in
                return self._status(503, refusal, reply_type, {"Retry-After": "1", **cors})
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return self._status(413, f"body exceeds {config.max_request_body_size} bytes", reply_type,
                                    {**cors, "Connection": "close"})
            if len(raw) > config.max_request_body_size:
                return self._status(413, f"body exceeds {config.max_request_body_size} bytes", reply_type, cors)
            held.add(len(raw))
            try:
                body = decompress(raw, request.headers.get("Content-Encoding", ""),
                                  config.max_decompressed_body_size)
            except UnsupportedEncoding as exc:
                return self._status(415, str(exc), reply_type, cors)
            except BodyTooLarge as exc:
                return self._status(413, str(exc), reply_type, cors)
            except ValueError as exc:
                return self._status(400, f"cannot decompress body: {exc}", reply_type, cors)
            if body is not raw:
                held.add(len(body))
            try:
                batch, rejected, message = await decode(signal, body, json=ctype == JSON)
            except (DecodeError, otlpjson.JSONDecodeError) as exc:
                return self._status(400, f"cannot decode {signal.value} request: {exc}", reply_type, cors)
            if not batch.is_empty():
                try:
                    await consumer.consume(batch)
                except Refused as exc:
                    retry_after = str(max(1, math.ceil(exc.retry_after)))
                    return self._status(503, exc.reason, reply_type, {"Retry-After": retry_after, **cors})
                except Exception as exc:
                    self._log.exception("receiver_consume_failed", signal=signal.value)
                    return self._status(500, f"internal error: {type(exc).__name__}", reply_type, cors)
            response = make_response(signal, rejected, message)
            if reply_type == JSON:
                out = json.dumps(otlpjson.encode_message(response)).encode()
            else:
                out = response.SerializeToString()
            return web.Response(body=out, content_type=reply_type, headers=cors or None)

        return handle
