"""Where the shared cases run: the local stand-in, or a real cluster named by ``ELASTICSEARCH_URL``.

A real cluster is shared, so every case works under its own namespace and template prefix (``token``) and
removes what it created afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from elasticsearch import Elasticsearch

from collector.component import ComponentID, CreateSettings
from collector.errors import ExportError
from collector.exporters.elasticsearch import Config, create
from collector.exporters.elasticsearch._transport import auth_headers
from collector.pdata import Batch
from collector.testing import RecordingTelemetry
from tests.servers.elasticsearch import ElasticsearchServer


class Backend(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def repository(self) -> str | None: ...

    def exporter_keys(self) -> dict[str, Any]:
        """Auth and TLS keys the exporter needs to reach this backend."""
        ...

    def get(self, path: str) -> tuple[int, Any]: ...

    def search(self, target: str, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Sources of every matching document (after a refresh)."""
        ...

    def cleanup(self, token: str) -> None: ...


@dataclass
class LocalBackend:
    server: ElasticsearchServer
    repository: str | None = "backups"

    @property
    def url(self) -> str:
        return self.server.url

    def exporter_keys(self) -> dict[str, Any]:
        return {}

    def get(self, path: str) -> tuple[int, Any]:
        return self.server.call("GET", path)

    def search(self, target: str, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.server.search(target, query)

    def cleanup(self, token: str) -> None:
        return None


@dataclass
class RemoteBackend:
    """A real cluster. Auth from ``ELASTICSEARCH_API_KEY`` or ``ELASTICSEARCH_USER``/``ELASTICSEARCH_PASSWORD``,
    CA from ``ELASTICSEARCH_CA_FILE``, snapshot repository (for the SLM policy) from
    ``ELASTICSEARCH_SNAPSHOT_REPOSITORY`` (unset: SLM is not installed)."""

    url: str
    repository: str | None = field(default_factory=lambda: os.environ.get("ELASTICSEARCH_SNAPSHOT_REPOSITORY"))

    def exporter_keys(self) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        if os.environ.get("ELASTICSEARCH_API_KEY"):
            keys["api_key"] = os.environ["ELASTICSEARCH_API_KEY"]
        elif os.environ.get("ELASTICSEARCH_USER"):
            keys["user"] = os.environ["ELASTICSEARCH_USER"]
            keys["password"] = os.environ.get("ELASTICSEARCH_PASSWORD", "")
        if os.environ.get("ELASTICSEARCH_CA_FILE"):
            keys["tls"] = {"ca_file": os.environ["ELASTICSEARCH_CA_FILE"]}
        return keys

    def _client(self) -> Elasticsearch:
        keys = self.exporter_keys()
        options: dict[str, Any] = {"hosts": [self.url], "request_timeout": 30}
        if "tls" in keys:
            options["ca_certs"] = keys["tls"]["ca_file"]
        return Elasticsearch(**options)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Through the client's transport with plain JSON, which Elasticsearch 8 and 9 both accept (the 9.x
        client's own ``compatible-with=9`` media types are refused by 8)."""
        config = Config.model_validate({"endpoints": [self.url], **self.exporter_keys()})
        headers = {"accept": "application/json", **auth_headers(config)}
        if body is not None:
            headers["content-type"] = "application/json"
        with self._client() as es:
            answer = es.transport.perform_request(method, path, headers=headers, body=body)
        return answer.meta.status, answer.body

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def search(self, target: str, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.request("POST", f"/{target}/_refresh?ignore_unavailable=true&allow_no_indices=true")
        status, answer = self.request("POST", f"/{target}/_search?ignore_unavailable=true",
                                      {"query": dict(query), "size": 1000})
        if status != 200:
            raise AssertionError(f"search failed: {status} {answer}")
        return [hit["_source"] for hit in answer["hits"]["hits"]]

    def cleanup(self, token: str) -> None:
        for path in (f"/_data_stream/*-{token}", f"/_index_template/{token}-*", f"/_component_template/{token}*",
                     f"/_ilm/policy/{token}-ilm", f"/_slm/policy/{token}-slm"):
            self.request("DELETE", path)


@contextmanager
def isolated(backend: Backend) -> Iterator[str]:
    """A fresh token (namespace and name prefix) for one case; cleans up after it."""
    token = "t" + secrets.token_hex(4)
    try:
        yield token
    finally:
        backend.cleanup(token)


def exporter_config(backend: Backend, token: str, **keys: Any) -> Config:
    """A config for ``backend`` whose data, templates and policies are all named after ``token``."""
    lifecycle = {
        "ilm": {"policy_name": f"{token}-ilm"},
        "slm": {"policy_name": f"{token}-slm", "repository": backend.repository},
        "templates": {
            "name_prefix": token,
            "logs_index_patterns": [f"logs-*-{token}"],
            "traces_index_patterns": [f"traces-*-{token}"],
            "metrics_index_patterns": [f"metrics-*-{token}"],
        },
    }
    base: dict[str, Any] = {
        "endpoints": [backend.url],
        "flush": {"interval": "0s"},
        "lifecycle": lifecycle,
        **backend.exporter_keys(),
    }
    for key, value in keys.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return Config.model_validate(base)


@dataclass
class Run:
    outcomes: list[ExportError | None]
    telemetry: RecordingTelemetry


def export(config: Config, batches: Sequence[Batch], *, name: str = "elasticsearch") -> Run:
    """Start an exporter, export each batch once (no retries: the sender is not in the way), shut down."""
    telemetry = RecordingTelemetry()

    async def main() -> list[ExportError | None]:
        exporter = create(CreateSettings(ComponentID("elasticsearch", name), telemetry=telemetry), config)
        await exporter.start()
        outcomes: list[ExportError | None] = []
        try:
            for batch in batches:
                try:
                    await exporter.export(batch)
                except ExportError as exc:
                    outcomes.append(exc)
                else:
                    outcomes.append(None)
        finally:
            await exporter.shutdown()
        return outcomes

    return Run(asyncio.run(main()), telemetry)
