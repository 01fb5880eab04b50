"""The ``sentry`` exporter's factory and runtime."""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from collector.component import CreateSettings
from collector.errors import PermanentError, RetryableError
from collector.exporters.sentry._config import Config
from collector.exporters.sentry._dedupe import Deduper, Pending, fingerprint, merge_items, shared_deduper
from collector.exporters.sentry._events import EventBuilder, Pseudonymizer, SentryItem, Source
from collector.exporters.sentry._transport import EnvelopeClient, Verdict, classify, rate_limits
from collector.pdata import Batch, Signal

__all__ = ["SIGNALS", "TYPE", "SentryExporter", "create", "subset"]

TYPE = "sentry"
SIGNALS = frozenset({Signal.LOGS, Signal.TRACES})

_RECENTLY_SENT = 10_000
_RESOURCE_CHILDREN = {Signal.LOGS: "scope_logs", Signal.TRACES: "scope_spans"}
_SCOPE_CHILDREN = {Signal.LOGS: "log_records", Signal.TRACES: "spans"}


def create(settings: CreateSettings, config: Config) -> SentryExporter:
    return SentryExporter(settings, config, pseudonymizer=_pseudonymizer(config))


def _pseudonymizer(config: Config) -> Pseudonymizer | None:
    name = config.user_pseudonym_key_env
    if name is None or not config.dsn:
        return None  # not asked for, or the exporter is off
    key = os.environ.get(name, "")
    if not key:
        raise ValueError(
            f"user_pseudonym_key_env: environment variable {name} is not set or empty; "
            "set it to the HMAC key, or remove user_pseudonym_key_env"
        )
    from otel_distro.scrubbing import default_scrubber  # noqa: PLC0415 - the PII engine, only when asked for

    try:
        return default_scrubber(key.encode())
    except ValueError as exc:
        raise ValueError(f"user_pseudonym_key_env: the key in {name} is unusable: {exc}") from None


def subset(batch: Batch, sources: Collection[Source]) -> Batch:
    """A new batch holding only the records (log records or spans) at `sources`, with their resource and
    scope, in their original order."""
    wanted = set(sources)
    out = Batch.empty(batch.signal)
    resource_children = _RESOURCE_CHILDREN[batch.signal]
    scope_children = _SCOPE_CHILDREN[batch.signal]
    for ri, resource_entry in enumerate(batch.resources):
        new_resource: Any = None
        for si, scope_entry in enumerate(getattr(resource_entry, resource_children)):
            new_scope: Any = None
            for ki, record in enumerate(getattr(scope_entry, scope_children)):
                if (ri, si, ki) not in wanted:
                    continue
                if new_resource is None:
                    new_resource = out.resources.add()
                    new_resource.resource.CopyFrom(resource_entry.resource)
                    new_resource.schema_url = resource_entry.schema_url
                if new_scope is None:
                    new_scope = getattr(new_resource, resource_children).add()
                    new_scope.scope.CopyFrom(scope_entry.scope)
                    new_scope.schema_url = scope_entry.schema_url
                getattr(new_scope, scope_children).add().CopyFrom(record)
    return out


@dataclass(slots=True)
class _Run:
    """The outcome of one export call, item by item."""

    done: set[int] = field(default_factory=set)  # indexes sent or rejected for good
    rejected: set[Source] = field(default_factory=set)
    retry_reason: str | None = None
    retry_after: float | None = None

    def retry(self, reason: str, retry_after: float | None) -> None:
        self.retry_reason = self.retry_reason or reason
        if retry_after is not None:
            self.retry_after = max(retry_after, self.retry_after or 0.0)


class SentryExporter:
    """Sends the errors (and, when asked, transactions) found in each batch, one envelope per event.

    Events are sent `concurrency` requests at a time; a retryable failure stops the export and hands the
    sender the records whose events were not sent yet (with Sentry's longest announced delay). Rate limits
    are kept per data category, and items of a limited category are not sent until the limit has passed.
    Ids Sentry accepted lately are remembered, so a batch retried after a timeout resumes where it stopped.
    """

    def __init__(self, settings: CreateSettings, config: Config, *, pseudonymizer: Pseudonymizer | None = None) -> None:
        self._settings = settings
        self._log = settings.logger
        self._config = config
        self._client: EnvelopeClient | None = None
        if config.dsn:
            self._client = EnvelopeClient(config.dsn, compression=config.compression, timeout=config.timeout)
        self._build = EventBuilder(config, pseudonymizer)
        self._disabled_until: dict[str | None, float] = {}  # category (None = all) -> monotonic deadline
        self._recently_sent: OrderedDict[str, None] = OrderedDict()
        self._attrs = {"exporter": str(settings.id)}
        self._dedupe: Deduper | None = None
        if config.dedupe.enabled:
            self._dedupe = shared_deduper(settings.host, str(settings.id), window=config.dedupe.window,
                                          memory=config.dedupe.memory, max_entries=config.dedupe.max_entries)
            if settings.signal is not None:
                self._dedupe.signals.add(settings.signal)

    async def start(self) -> None:
        if self._client is None:
            self._log.warning("sentry_exporter_disabled", reason="dsn is empty")
            return
        await self._client.start()

    async def shutdown(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def export(self, batch: Batch) -> None:
        if self._client is None:
            return
        items = [it for it in self._build(batch) if it.event_id not in self._recently_sent]
        if not items:
            return
        if self._dedupe is None:
            await self._send_all(batch, items, [])
            return
        items, merged = merge_items(items)
        to_send: list[SentryItem] = []
        held: list[tuple[Pending, SentryItem]] = []
        joined: list[tuple[Pending, SentryItem]] = []
        duplicates = merged
        for item in items:
            fp = fingerprint(item)
            if fp is None:
                to_send.append(item)
            elif self._dedupe.was_sent(fp):
                duplicates += 1
            elif (entry := self._dedupe.pending(fp)) is not None:
                self._dedupe.join(entry, item.event)
                joined.append((entry, item))
                duplicates += 1
            elif self._dedupe.waits:
                held.append((self._dedupe.hold(fp, item.event), item))
            else:
                to_send.append(item)
        if duplicates:
            self._settings.telemetry.add(
                "otelcol_exporter_sentry_deduplicated_items", duplicates, self._attrs,
                description="error events merged into another event of the same failure (not sent twice)",
            )
        try:
            if held:
                await self._dedupe.wait(entry for entry, _ in held)
            await self._send_all(batch, to_send, held, joined)
        finally:
            for entry, _ in held:
                self._dedupe.release(entry, sent=False)  # no-op for those `_send_all` released as sent

    async def _send_all(self, batch: Batch, items: list[SentryItem], held: list[tuple[Pending, SentryItem]],
                        joined: list[tuple[Pending, SentryItem]] | None = None) -> None:
        """Send `items` and the `held` events (merged with whatever met them), `concurrency` at a time; the
        `joined` items (merged into another call's held event) are retried with the rest if that was not sent."""
        items = [*items, *(SentryItem(entry.event, item.item_type, item.source, item.also) for entry, item in held)]
        if not items and not joined:
            return
        run = _Run()
        queue = iter(enumerate(items))

        async def worker() -> None:
            for i, item in queue:
                if run.retry_reason is not None:
                    return  # one retryable failure: stop taking new items, hand the rest back
                await self._send(i, item, run)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self._config.concurrency, len(items))):
                group.create_task(worker())
        if self._dedupe is not None:
            first_held = len(items) - len(held)
            for i, item in enumerate(items):
                if i not in run.done:
                    continue
                if i >= first_held:
                    self._dedupe.release(held[i - first_held][0], sent=True)
                elif (fp := fingerprint(item)) is not None:
                    self._dedupe.mark_sent(fp)
        # shielded: the outcome is shared by every call that joined the event, a cancelled one must not cancel it
        unsent = [item for entry, item in joined or () if not await asyncio.shield(entry.outcome)]
        if run.retry_reason is not None or unsent:
            pending = {source for i, it in enumerate(items) if i not in run.done for source in it.sources}
            pending.update(source for item in unsent for source in item.sources)
            reason = run.retry_reason or "the event this failure was merged into was not sent"
            raise RetryableError(reason, retry_after=run.retry_after, batch=subset(batch, pending),
                                 rejected_items=len(run.rejected))
        if run.rejected:
            raise PermanentError(
                f"Sentry rejected the events of {len(run.rejected)} record(s)", rejected_items=len(run.rejected)
            )

    async def _send(self, index: int, item: SentryItem, run: _Run) -> None:
        """Send one item and record its outcome in `run`."""
        if self._client is None:
            return
        wait = self._limited(item.category)
        if wait > 0:
            run.retry(f"{item.category} events rate limited by Sentry", wait)
            return
        try:
            response = await self._client.send(self._client.envelope(item))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            run.retry(f"cannot reach Sentry: {type(exc).__name__}: {exc}", None)
            return
        self._note_rate_limits(response.headers, response.status)
        outcome = classify(response.status, response.headers, item.category)
        if outcome.verdict is Verdict.RETRY:
            run.retry(outcome.reason, outcome.retry_after)
            return
        run.done.add(index)
        if outcome.verdict is Verdict.SENT:
            self._remember(item.event_id)
            self._settings.telemetry.add(
                "otelcol_exporter_sentry_sent_items", 1, {**self._attrs, "type": item.item_type},
                description="events and transactions Sentry accepted",
            )
        else:
            run.rejected.add(item.source)
            self._log.error(
                "sentry_event_rejected", event_id=item.event_id, type=item.item_type,
                status=response.status, body=response.body,
            )

    def _remember(self, event_id: str) -> None:
        """Ids Sentry accepted lately: a batch retried after a timeout resumes instead of sending them again."""
        self._recently_sent[event_id] = None
        if len(self._recently_sent) > _RECENTLY_SENT:
            self._recently_sent.popitem(last=False)

    def _limited(self, category: str) -> float:
        now = time.monotonic()
        deadline = max(self._disabled_until.get(category, 0.0), self._disabled_until.get(None, 0.0))
        return max(0.0, deadline - now)

    def _note_rate_limits(self, headers: Any, status: int) -> None:
        limits = rate_limits(headers)
        if not limits and status == 429:
            outcome = classify(status, headers)
            limits = {None: outcome.retry_after or 0.0}
        now = time.monotonic()
        for category, seconds in limits.items():
            previous = self._disabled_until.get(category, 0.0)
            self._disabled_until[category] = max(previous, now + seconds)
            if previous <= now:  # logged when a limit starts, not on every answer that repeats it
                self._log.warning("sentry_rate_limited", category=category or "all", retry_after=seconds)
