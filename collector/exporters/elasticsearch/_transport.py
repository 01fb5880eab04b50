"""Requests to Elasticsearch through the official client's transport, with plain media types.

The client itself would send ``application/vnd.elasticsearch+json; compatible-with=<its major>``, which a
cluster of another major refuses (the 9.x client cannot talk to Elasticsearch 8). Plain ``application/json``
and ``application/x-ndjson`` are understood by 8 and 9 alike, so the exporter talks to the transport (node
pool, TLS, compression, timeouts) with its own headers, and checks ``X-Elastic-Product`` as the client does.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from elasticsearch import AsyncElasticsearch

from ._config import Config

__all__ = ["Answer", "NotElasticsearch", "Transport", "auth_headers"]

Answer = tuple[int, dict[str, str], Any]
"""HTTP status, headers (lower-case names) and decoded body."""

_JSON = "application/json"
_NDJSON = "application/x-ndjson"


class NotElasticsearch(Exception):
    """The server answered 2xx without ``X-Elastic-Product: Elasticsearch``: nothing it says is trusted."""


def auth_headers(config: Config) -> dict[str, str]:
    if config.api_key is not None:
        return {"authorization": f"ApiKey {config.api_key.get_secret_value()}"}
    if config.user is not None and config.password is not None:
        token = base64.b64encode(f"{config.user}:{config.password.get_secret_value()}".encode()).decode()
        return {"authorization": f"Basic {token}"}
    return {}


class Transport:
    def __init__(self, client: AsyncElasticsearch, headers: Mapping[str, str], *,
                 request_timeout: float | None = None) -> None:
        self._transport = client.transport
        self._headers = {k.lower(): v for k, v in headers.items()}
        self._request_timeout = request_timeout
        self._verified = False

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, ndjson: bool = False) -> Answer:
        """One request, whatever its status; raises only when there is no answer (connection refused or
        reset, timeout, TLS) or when the server is not Elasticsearch."""
        headers = {**self._headers, "accept": _JSON}
        if body is not None:
            headers["content-type"] = _NDJSON if ndjson else _JSON
        target = f"{path}?{urlencode(params)}" if params else path
        # no retries here (the transport would retry 429/502/503/504 three times): the sender decides
        response = await self._transport.perform_request(
            method, target, headers=headers, body=body, max_retries=0, retry_on_status=(), retry_on_timeout=False,
            request_timeout=self._request_timeout,
        )
        meta = response.meta
        answer_headers = {k.lower(): v for k, v in meta.headers.items()}
        if not self._verified and 200 <= meta.status < 300:
            if answer_headers.get("x-elastic-product") != "Elasticsearch":
                node = meta.node
                raise NotElasticsearch(
                    f"{node.scheme}://{node.host}:{node.port} answered without 'X-Elastic-Product: Elasticsearch'")
            self._verified = True
        return meta.status, answer_headers, response.body
