"""The exporter runtime: encode a batch, index it through the bulk indexer, then settle every document —
stored, retried (429/5xx, handed back to the sender as ``RetryableError(batch=<the rest>)``) or rejected
(dead-lettered and counted, never retried)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from elasticsearch import AsyncElasticsearch

from collector.component import CreateSettings
from collector.errors import PermanentError, RetryableError
from collector.pdata import Batch, Signal

from ._bulk import BulkIndexer, ItemResult, Response
from ._classify import ItemOutcome
from ._config import Config
from ._deadletter import DeadLetterFile
from ._encoder import Encoder
from ._lifecycle import LifecycleError, install
from ._request import BulkRequest
from ._transport import Transport, auth_headers

__all__ = ["ElasticsearchExporter", "make_client", "select"]

# Only what classification needs travels back (otelcol-contrib asks for the same).
_FILTER_PATH = "errors,items.*._index,items.*.status,items.*.error.type,items.*.error.reason"


def make_client(config: Config, endpoints: list[str]) -> AsyncElasticsearch:
    """The official async client (its transport carries the requests, see `_transport`), with its own retries
    off: the sender is the one place that retries."""
    options: dict[str, Any] = {
        "hosts": endpoints,
        "max_retries": 0,
        "retry_on_status": (),
        "retry_on_timeout": False,
        "request_timeout": config.timeout or None,
        "http_compress": config.compression == "gzip",
    }
    if any(url.startswith("https:") for url in endpoints):
        tls = config.tls
        if tls.ca_file:
            options["ca_certs"] = tls.ca_file
        if tls.cert_file and tls.key_file:
            options["client_cert"], options["client_key"] = tls.cert_file, tls.key_file
        if tls.insecure_skip_verify:
            options["verify_certs"] = False
            options["ssl_show_warn"] = False
    # Requests bypass the client's API methods, and with them its OpenTelemetry spans: in a collector those
    # spans would be exported back through the collector itself, a feedback loop.
    return AsyncElasticsearch(**options)


def select(batch: Batch, refs: Iterable[tuple[int, ...]]) -> Batch:
    """A new batch holding only the records at ``refs`` — (resource, scope, record), or (resource, scope,
    metric, data point) — with their resource, scope and metric, in their original order."""
    wanted: dict[int, dict[int, set[tuple[int, ...]]]] = {}
    for ri, si, *rest in refs:
        wanted.setdefault(ri, {}).setdefault(si, set()).add(tuple(rest))
    out = Batch.empty(batch.signal)
    for ri in sorted(wanted):
        src_rs = batch.resources[ri]
        rs = out.resources.add()
        rs.resource.CopyFrom(src_rs.resource)
        rs.schema_url = src_rs.schema_url
        for si in sorted(wanted[ri]):
            src_ss = _scopes_of(src_rs, batch.signal)[si]
            ss = _scopes_of(rs, batch.signal).add()
            ss.scope.CopyFrom(src_ss.scope)
            ss.schema_url = src_ss.schema_url
            positions = sorted(wanted[ri][si])
            if batch.signal is Signal.METRICS:
                _select_points(src_ss.metrics, ss.metrics, positions)
            else:
                src_records = src_ss.log_records if batch.signal is Signal.LOGS else src_ss.spans
                records = ss.log_records if batch.signal is Signal.LOGS else ss.spans
                for (i,) in positions:
                    records.add().CopyFrom(src_records[i])
    return out


def _scopes_of(rs: Any, signal: Signal) -> Any:
    if signal is Signal.LOGS:
        return rs.scope_logs
    return rs.scope_spans if signal is Signal.TRACES else rs.scope_metrics


def _select_points(src_metrics: Any, dst_metrics: Any, positions: list[tuple[int, ...]]) -> None:
    """Copy each metric named in ``positions`` (metric, data point) with only the chosen data points."""
    by_metric: dict[int, list[int]] = {}
    for mi, di in positions:
        by_metric.setdefault(mi, []).append(di)
    for mi, points in by_metric.items():
        src = src_metrics[mi]
        kind = src.WhichOneof("data")
        metric = dst_metrics.add()
        metric.CopyFrom(src)
        data = getattr(metric, kind)
        del data.data_points[:]
        src_points = getattr(src, kind).data_points
        for di in points:
            data.data_points.add().CopyFrom(src_points[di])


class ElasticsearchExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._config = config
        self._endpoints = config.resolved_endpoints()
        self._id = str(settings.id)
        self._telemetry = settings.telemetry
        self._log = settings.logger
        self._attrs = {"exporter": self._id}
        self._encoders = {s: Encoder(config, s) for s in Signal}
        self._dead_letter = (
            DeadLetterFile(config.dead_letter.path, self._id) if config.dead_letter.path else None
        )
        self._client: AsyncElasticsearch | None = None
        self._transport: Transport | None = None
        self._indexer: BulkIndexer | None = None
        self._lifecycle_done = not config.lifecycle.install
        self._lifecycle_lock = asyncio.Lock()

    @property
    def endpoints(self) -> list[str]:
        return list(self._endpoints)

    async def start(self) -> None:
        self._client = make_client(self._config, self._endpoints)
        self._transport = Transport(self._client, {**self._config.headers, **auth_headers(self._config)},
                                    request_timeout=self._config.timeout or None)
        self._indexer = BulkIndexer(
            self._send,
            flush_bytes=self._config.flush.bytes,
            flush_interval=self._config.flush.interval,
            on_request=self._count_request,
        )
        if not self._lifecycle_done:
            try:
                await self._ensure_lifecycle()
            except LifecycleError as exc:
                await self.shutdown()
                raise RuntimeError(
                    f"exporters::{self._id}: cannot install ILM/SLM/templates: {exc} "
                    "(fix it, or set lifecycle::install: false)"
                ) from exc
            except RetryableError as exc:
                self._log.warning("elasticsearch_lifecycle_deferred", reason=str(exc))
        self._log.info("elasticsearch_exporter_started", endpoints=self._endpoints,
                       mapping_mode=self._config.mapping.mode)

    async def _ensure_lifecycle(self) -> None:
        """Install policies and templates once, before the first document (so that the first data stream is
        created on them). While Elasticsearch is unreachable exports are retried, never dropped."""
        if self._lifecycle_done:
            return
        if self._transport is None:
            raise RuntimeError("exporter not started")
        async with self._lifecycle_lock:
            if self._lifecycle_done:
                return
            try:
                report = await install(self._transport, self._config.lifecycle, self._config.mapping.mode)
            except LifecycleError:
                raise
            except Exception as exc:  # unreachable, 5xx, 429: wait for the cluster, keep the data
                raise RetryableError(f"Elasticsearch not ready for the lifecycle install: {exc}") from exc
            self._lifecycle_done = True
            if report.backups_off is not None:
                lifecycle = self._config.lifecycle
                self._log.warning(
                    "elasticsearch_backups_off", reason=report.backups_off, ilm_policy=lifecycle.ilm.policy_name,
                    consequence=f"indices are deleted after {lifecycle.ilm.delete_after} with no snapshot "
                    "(no SLM policy, no wait_for_snapshot)",
                    hint="register a snapshot repository (fs on path.repo, or s3/gcs/azure) and name it in "
                    "lifecycle::slm::repository, with repository_type to have it registered on start")
            self._log.info("elasticsearch_lifecycle_installed", created=report.created, updated=report.updated,
                           unchanged=report.unchanged)

    async def _send(self, body: bytes) -> Response:
        if self._transport is None:
            raise RuntimeError("exporter not started")
        self._telemetry.add("otelcol_elasticsearch_flushed_bytes", len(body), self._attrs,
                            description="bytes of _bulk request bodies sent (before compression)")
        return await self._transport.request("POST", "/_bulk", params={"filter_path": _FILTER_PATH}, body=body,
                                             ndjson=True)

    def _count_request(self, request: BulkRequest, outcome: str) -> None:
        self._telemetry.add("otelcol_elasticsearch_bulk_requests", 1, {**self._attrs, "outcome": outcome},
                            description="_bulk requests by outcome: success, partial, failed")

    async def export(self, batch: Batch) -> None:
        if batch.is_empty():
            return
        if self._indexer is None:
            raise RuntimeError("exporter not started")
        try:
            await self._ensure_lifecycle()
        except LifecycleError as exc:
            self._log.error("elasticsearch_lifecycle_failed", reason=str(exc))
            raise RetryableError(f"lifecycle install refused: {exc}") from exc
        docs = self._encoders[batch.signal].encode(batch)
        results = await self._indexer.index(docs)
        self._settle(batch, results)

    def _settle(self, batch: Batch, results: list[ItemResult]) -> None:
        counts = Counter(r.outcome for r in results)
        for outcome, n in counts.items():
            self._telemetry.add("otelcol_elasticsearch_docs_processed", n, {**self._attrs, "outcome": str(outcome)},
                                description="documents by outcome: success, too_many, failed_server, failed_client")
        rejected = [r for r in results if r.outcome is ItemOutcome.REJECTED]
        retry = [r for r in results if r.outcome.retry]
        if rejected:
            self._reject(rejected)
        if retry:
            hints = [r.retry_after for r in retry if r.retry_after is not None]
            first = retry[0]
            status = first.status or "-"
            raise RetryableError(
                f"{len(retry)} of {len(results)} documents to retry: HTTP {status} {_describe(first.error)}",
                retry_after=max(hints) if hints else None,
                batch=select(batch, (r.doc.ref for r in retry)),
                rejected_items=len(rejected),
            )
        if rejected:
            where = f"dead-lettered to {self._dead_letter.path}" if self._dead_letter else "not dead-lettered"
            raise PermanentError(
                f"{len(rejected)} of {len(results)} documents rejected ({where}): {_describe(rejected[0].error)}",
                rejected_items=len(rejected),
            )

    def _reject(self, rejected: list[ItemResult]) -> None:
        first = rejected[0]
        written = False
        if self._dead_letter is not None:
            try:
                self._dead_letter.write(rejected)
                written = True
            except OSError as exc:
                self._log.error("elasticsearch_dead_letter_failed", path=str(self._dead_letter.path), error=str(exc))
        if written:
            self._telemetry.add("otelcol_elasticsearch_docs_dead_lettered", len(rejected), self._attrs,
                                description="documents rejected by Elasticsearch and written to the dead-letter file")
        self._log.warning(
            "elasticsearch_documents_rejected",
            count=len(rejected),
            index=first.doc.index,
            status=first.status,
            error=_describe(first.error),
            dead_letter=str(self._dead_letter.path) if written and self._dead_letter else None,
        )

    async def shutdown(self) -> None:
        if self._indexer is not None:
            await self._indexer.close()
        if self._client is not None:
            await self._client.close()
            self._client = self._transport = None
        if self._dead_letter is not None:
            self._dead_letter.close()


def _describe(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    return f"{error.get('type', 'error')}: {error.get('reason', '')}"
