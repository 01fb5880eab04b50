"""Elasticsearch data streams: snapshot the backing indices older than the limit, check the snapshot holds
them all (state ``SUCCESS``, no failed shard), then delete them one by one.

What is never deleted:

* the write index of a data stream (Elasticsearch refuses it anyway: roll over first);
* an index ILM is still working on (managed, not in its ``delete`` phase, and its current step is not
  ``complete``: a rollover, shrink, force-merge or searchable snapshot in progress, or a step in ``ERROR``).
  An index in ILM's ``delete`` phase (e.g. waiting in ``wait_for_snapshot``) is one ILM wants gone too: the job
  snapshots and deletes it, which ILM then sees as done.

An index's age is counted from its ``index.lifecycle.origination_date`` when set, else ILM's lifecycle date
(the rollover time once rolled over: the newest data it can hold), else its ``index.creation_date``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from ._config import ElasticsearchConfig, RetryConfig
from ._plan import Candidate, Kept, Outcome, Report
from ._retry import PermanentError, RetriesExhausted, retry

__all__ = ["ElasticsearchStore", "ilm_busy"]

_log = structlog.get_logger("otel_distro.retention")


def _millis(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except (TypeError, ValueError):
        return None


def ilm_busy(explain: Mapping[str, Any] | None) -> str | None:
    """Why ILM still needs this index (``_ilm/explain`` entry), or None when deleting it is safe for ILM."""
    if not explain or not explain.get("managed"):
        return None
    phase, action, step = explain.get("phase"), explain.get("action"), explain.get("step")
    if phase == "delete":
        return None
    if step == "ERROR":
        return f"ILM step failed in phase {phase} (action {explain.get('failed_step') or action}): fix the policy"
    if step == "complete":
        return None
    return f"ILM is still working on it (phase {phase}, action {action}, step {step})"


def _classify(exc: Exception) -> Exception:
    """Retryable errors are returned as they are; the others become `PermanentError`."""
    if isinstance(exc, ApiError):
        if exc.meta.status in (408, 429) or exc.meta.status >= 500:
            return exc
        return PermanentError(f"HTTP {exc.meta.status}: {_reason(exc)}")
    return exc


def _reason(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return f"{body['error'].get('type')}: {body['error'].get('reason')}"
    return str(exc.message)


class ElasticsearchStore:
    def __init__(self, config: ElasticsearchConfig, retry_policy: RetryConfig, *,
                 client: Elasticsearch | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if client is None:
            if config.url is None:
                raise ValueError("elasticsearch::url: not set")
            api_key = config.api_key.get_secret_value() if config.api_key is not None else None
            client = Elasticsearch(config.nodes(), api_key=api_key, max_retries=0, request_timeout=60)
        self._es = client
        self._config = config
        self._retry = retry_policy
        self._sleep = sleep

    def _call(self, operation: str, func: Callable[[], Any], **fields: object) -> Any:
        def attempt() -> Any:
            try:
                return func()
            except (ApiError, TransportError) as exc:
                raise _classify(exc) from exc

        return retry(operation, attempt, self._retry, sleep=self._sleep, **fields)

    # -- plan -----------------------------------------------------------------------------------------------

    def plan(self, cutoff: datetime) -> tuple[list[Candidate], list[Kept]]:
        patterns = ",".join(self._config.data_streams)
        answer = self._call("list_data_streams", lambda: self._es.indices.get_data_stream(
            name=patterns, expand_wildcards="all"))
        streams: list[tuple[str, list[str]]] = []
        for ds in answer.body.get("data_streams", []):
            indices = [i["index_name"] for i in ds.get("indices", [])]
            if indices:
                streams.append((ds["name"], indices))
        names = [n for _, indices in streams for n in indices]
        if not names:
            return [], []
        target = ",".join(names)
        settings = self._call("get_settings", lambda: self._es.indices.get_settings(
            index=target, flat_settings=True, expand_wildcards="all")).body
        explain = self._call("ilm_explain", lambda: self._es.ilm.explain_lifecycle(index=target)).body
        stats = self._call("index_stats", lambda: self._es.indices.stats(
            index=target, metric="store", expand_wildcards="all")).body
        candidates: list[Candidate] = []
        kept: list[Kept] = []
        for stream, indices in streams:
            for position, name in enumerate(indices):
                flat = settings.get(name, {}).get("settings", {})
                ilm = explain.get("indices", {}).get(name)
                created = (_millis(flat.get("index.lifecycle.origination_date"))
                           or (_millis(ilm.get("lifecycle_date_millis")) if ilm and ilm.get("managed") else None)
                           or _millis(flat.get("index.creation_date")))
                if created is None or created >= cutoff:
                    continue
                if position == len(indices) - 1:
                    kept.append(Kept("elasticsearch", name, f"write index of data stream {stream} (roll it over "
                                     "first)"))
                    continue
                busy = ilm_busy(ilm)
                if busy is not None:
                    kept.append(Kept("elasticsearch", name, busy))
                    continue
                size = stats.get("indices", {}).get(name, {}).get("total", {}).get("store", {}).get(
                    "size_in_bytes", 0)
                candidates.append(Candidate("elasticsearch", name, int(size), created, stream))
        return candidates, kept

    # -- snapshot, verify, delete ---------------------------------------------------------------------------

    def snapshot(self, candidates: Iterable[Candidate], now: datetime) -> str:
        """A snapshot holding every candidate, verified complete; its name. Raises `PermanentError` or
        `RetriesExhausted` when there is none (then nothing may be deleted)."""
        wanted = sorted(c.name for c in candidates)
        repository = self._config.repository
        base = f"{self._config.snapshot_prefix}-{now.astimezone(UTC):%Y.%m.%d-%H%M%S}-{secrets.token_hex(3)}"
        attempts = iter(range(1, 1 << 30))

        def take() -> str:
            name = f"{base}-{next(attempts)}"  # a failed snapshot keeps its name: each attempt takes a new one
            try:
                answer = self._es.options(request_timeout=self._config.timeout).snapshot.create(
                    repository=repository, snapshot=name, indices=",".join(wanted), include_global_state=False,
                    ignore_unavailable=False, partial=False, wait_for_completion=True,
                    metadata={"taken_by": "otel-distro retention", "indices": len(wanted)})
            except NotFoundError as exc:
                raise PermanentError(f"snapshot repository {repository!r} is not registered ({_reason(exc)}): "
                                     f"register it (PUT _snapshot/{repository}) or set "
                                     "ELASTICSEARCH_SNAPSHOT_REPOSITORY") from exc
            except (ApiError, TransportError) as exc:
                raise _classify(exc) from exc
            _check(answer.body.get("snapshot", {}), wanted, name)
            try:  # read it back from the repository: what is listed there is what a restore will find
                listed = self._es.snapshot.get(repository=repository, snapshot=name)
            except (ApiError, TransportError) as exc:
                raise _classify(exc) from exc
            found = listed.body.get("snapshots", [])
            if not found:
                raise RuntimeError(f"snapshot {name} is not listed in repository {repository}")
            _check(found[0], wanted, name)
            return name

        name: str = retry("snapshot", take, self._retry, sleep=self._sleep, repository=repository,
                          indices=len(wanted))
        _log.info("retention_snapshot_verified", snapshot=name, repository=repository, indices=wanted)
        return name

    def delete(self, candidate: Candidate, snapshot: str) -> Outcome:
        repository = self._config.repository

        def remove() -> bool:
            try:
                self._es.indices.delete(index=candidate.name)
            except NotFoundError:
                return False  # gone meanwhile (ILM, or a person): nothing left to delete
            except (ApiError, TransportError) as exc:
                raise _classify(exc) from exc
            return True

        try:
            removed = retry("delete_index", remove, self._retry, sleep=self._sleep, index=candidate.name)
        except (PermanentError, RetriesExhausted) as exc:
            _log.error("retention_delete_failed", store="elasticsearch", index=candidate.name,
                       data_stream=candidate.group, error=str(exc))
            return Outcome(candidate, deleted=False, backup=f"{repository}:{snapshot}", error=str(exc))
        _log.info("retention_index_deleted", index=candidate.name, data_stream=candidate.group,
                  bytes=candidate.bytes, snapshot=snapshot, repository=repository, already_gone=not removed)
        return Outcome(candidate, deleted=True, backup=f"{repository}:{snapshot}")

    def apply(self, candidates: list[Candidate], report: Report, now: datetime) -> None:
        if not candidates:
            return
        try:
            snapshot = self.snapshot(candidates, now)
        except (PermanentError, RetriesExhausted) as exc:
            message = f"elasticsearch: no verified snapshot, nothing deleted: {exc}"
            _log.error("retention_snapshot_failed", repository=self._config.repository, error=str(exc),
                       indices=[c.name for c in candidates])
            report.failures.append(message)
            report.outcomes += [Outcome(c, deleted=False, backup=None, error="no verified snapshot")
                                for c in candidates]
            return
        for candidate in candidates:
            report.outcomes.append(self.delete(candidate, snapshot))


def _check(info: Mapping[str, Any], wanted: list[str], name: str) -> None:
    state = info.get("state")
    failed = info.get("shards", {}).get("failed", 0)
    missing = sorted(set(wanted) - set(info.get("indices", [])))
    if state != "SUCCESS" or failed or missing:
        reason = info.get("reason") or ", ".join(str(f.get("reason")) for f in info.get("failures", [])[:3])
        raise RuntimeError(f"snapshot {name} is {state} (failed shards: {failed}, missing indices: {missing})"
                           + (f": {reason}" if reason else ""))
