"""The alert history in a SQL database (SQLAlchemy Core; PostgreSQL in production, SQLite by default).

Three tables:

* ``alert_history_alerts``: one row per *episode* of an alert — Alertmanager's fingerprint (its label set) and
  the time it started firing. A resolved alert that fires again later is a new episode, acknowledged and
  escalated afresh. Holds the alert's name, labels, annotations, state, start and end, acknowledgement and
  escalation level.
* ``alert_history_notifications``: every notification Alertmanager delivered to this service: which receiver
  (the webhook is part of every receiver, so this is who was notified), firing or resolved, the escalation level.
* ``alert_history_events``: acknowledgements (``ack``, ``silenced``) and escalations (``escalated``, and
  ``escalation_resolved`` when an escalation is withdrawn), with who and why; ``resolved_unnotified`` when an
  episode was closed because Alertmanager no longer holds it.

Times are stored as UNIX seconds (floats): the same on every database.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine

__all__ = ["ESCALATION_LABEL", "AlertFilter", "AlertStore", "labels_key"]

#: The label the escalation re-posts carry (1, 2); Alertmanager routes on it to the escalation receivers.
ESCALATION_LABEL = "escalation_level"

metadata = MetaData()

alerts = Table(
    "alert_history_alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("labels_key", Text, nullable=False),
    Column("alertname", String(200), nullable=False),
    Column("severity", String(50), nullable=False, default=""),
    Column("service", String(200), nullable=False, default=""),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("generator_url", Text, nullable=False, default=""),
    Column("state", String(10), nullable=False),  # firing | resolved
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=True),
    Column("first_received", Float, nullable=False),
    Column("last_received", Float, nullable=False),
    Column("acked_at", Float, nullable=True),
    Column("acked_by", String(200), nullable=True),
    Column("ack_reason", Text, nullable=True),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("escalated_at", Float, nullable=True),
    Column("escalation_withdrawn_at", Float, nullable=True),  # acknowledged or resolved: escalation resolved
    UniqueConstraint("fingerprint", "starts_at", name="uq_alert_history_episode"),
    Index("ix_alert_history_alerts_state", "state", "severity"),
    Index("ix_alert_history_alerts_labels_key", "labels_key"),
)

notifications = Table(
    "alert_history_notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alert_history_alerts.id"), nullable=False, index=True),
    Column("received_at", Float, nullable=False),
    Column("receiver", String(200), nullable=False),
    Column("status", String(10), nullable=False),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("group_key", Text, nullable=False, default=""),
)

events = Table(
    "alert_history_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alert_history_alerts.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("kind", String(30), nullable=False),  # ack, silenced, escalated, escalation_resolved, resolved_unnotified
    Column("level", Integer, nullable=True),
    Column("by", String(200), nullable=True),
    Column("reason", Text, nullable=True),
)


def _fit(column: Column[Any], value: str) -> str:
    """``value`` cut to the column's length: PostgreSQL refuses a longer one, and a notification that can never be
    stored would be retried by Alertmanager for ever (the labels column keeps the whole value)."""
    length: int | None = getattr(column.type, "length", None)
    return value[:length] if length else value


def labels_key(labels: Mapping[str, str]) -> str:
    """A hash of the canonical text of a label set (without the escalation label), to find an alert from its
    escalation (a hash: PostgreSQL's btree index cannot hold a label set of more than ~2.7 kB)."""
    text = json.dumps({k: v for k, v in sorted(labels.items()) if k != ESCALATION_LABEL}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AlertFilter:
    since: float | None = None
    until: float | None = None
    service: str | None = None
    severity: str | None = None
    state: str | None = None  # firing | resolved | acknowledged | unacknowledged
    alertname: str | None = None
    limit: int = 100


class AlertStore:
    """Thread-safe (one lock): the service calls it from worker threads."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        self._lock = threading.Lock()

    def create_tables(self) -> None:
        if self.engine.url.get_backend_name() == "sqlite" and self.engine.url.database:
            from pathlib import Path  # noqa: PLC0415

            Path(self.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- writing -------------------------------------------------------------------------------------------

    def record_notification(self, alert: Mapping[str, Any], *, receiver: str, group_key: str, now: float) -> int:
        """Store one alert of a webhook notification; returns the episode's id."""
        return self.record_notifications([alert], receiver=receiver, group_key=group_key, now=now)[0]

    def record_notifications(self, alerts: Sequence[Mapping[str, Any]], *, receiver: str, group_key: str,
                             now: float) -> list[int]:
        """Store every alert of one webhook notification in one transaction (all or none: Alertmanager retries
        the whole notification after a failure); returns the episodes' ids."""
        with self._lock, self.engine.begin() as conn:
            return [self._record(conn, alert, receiver=receiver, group_key=group_key, now=now) for alert in alerts]

    def _record(self, conn: Any, alert: Mapping[str, Any], *, receiver: str, group_key: str, now: float) -> int:
        labels: dict[str, str] = dict(alert["labels"])
        raw_level = labels.get(ESCALATION_LABEL, "")
        level = int(raw_level) if raw_level.isdigit() else 0  # anything else is not one of our escalations
        if level:  # an escalation's own notification: recorded on the alert it escalates
            row = conn.execute(
                select(alerts.c.id).where(alerts.c.labels_key == labels_key(labels))
                .order_by(alerts.c.starts_at.desc()).limit(1)
            ).first()
            if row is None:
                return 0
            alert_id: int = row.id
        else:
            alert_id = self._upsert_episode(conn, alert, labels, now)
        conn.execute(insert(notifications).values(
            alert_id=alert_id, received_at=now, receiver=_fit(notifications.c.receiver, receiver),
            status=alert["status"],
            escalation_level=level, group_key=group_key))
        return alert_id

    def _upsert_episode(self, conn: Any, alert: Mapping[str, Any], labels: dict[str, str], now: float) -> int:
        fingerprint, starts_at = alert["fingerprint"], alert["starts_at"]
        resolved = alert["status"] == "resolved"
        row = conn.execute(select(alerts.c.id).where(and_(alerts.c.fingerprint == fingerprint,
                                                          alerts.c.starts_at == starts_at))).first()
        values = {
            "annotations": dict(alert["annotations"]), "generator_url": alert.get("generator_url", ""),
            "state": "resolved" if resolved else "firing", "ends_at": alert["ends_at"] if resolved else None,
            "last_received": now,
        }
        if row is not None:
            conn.execute(update(alerts).where(alerts.c.id == row.id).values(**values))
            return int(row.id)
        result = conn.execute(insert(alerts).values(
            fingerprint=fingerprint, labels_key=labels_key(labels),
            alertname=_fit(alerts.c.alertname, labels.get("alertname", "")),
            severity=_fit(alerts.c.severity, labels.get("severity", "")),
            service=_fit(alerts.c.service,
                         labels.get("job") or labels.get("service_name") or labels.get("service", "")),
            labels=labels, starts_at=starts_at, first_received=now, escalation_level=0, **values))
        return int(result.inserted_primary_key[0])

    def acknowledge(self, fingerprint: str, *, by: str, reason: str, now: float, kind: str = "ack") -> bool:
        """Acknowledge the latest episode of ``fingerprint``; False if there is none. Acknowledging twice keeps
        the first acknowledgement (and records the second as an event)."""
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(select(alerts.c.id, alerts.c.acked_at).where(alerts.c.fingerprint == fingerprint)
                               .order_by(alerts.c.starts_at.desc()).limit(1)).first()
            if row is None:
                return False
            by = _fit(alerts.c.acked_by, by)
            if row.acked_at is None:
                conn.execute(update(alerts).where(alerts.c.id == row.id).values(
                    acked_at=now, acked_by=by, ack_reason=reason))
            conn.execute(insert(events).values(alert_id=row.id, at=now, kind=kind, by=by, reason=reason))
            return True

    def record_escalation(self, alert_id: int, level: int, now: float) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(escalation_level=level,
                                                                              escalated_at=now))
            conn.execute(insert(events).values(alert_id=alert_id, at=now, kind="escalated", level=level))

    def record_withdrawal(self, alert_id: int, level: int, now: float) -> None:
        """The escalations of an acknowledged or resolved alert were resolved in Alertmanager."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(escalation_withdrawn_at=now))
            conn.execute(insert(events).values(alert_id=alert_id, at=now, kind="escalation_resolved", level=level))

    # --- reading -------------------------------------------------------------------------------------------

    def escalation_candidates(self) -> list[dict[str, Any]]:
        """Firing critical episodes not acknowledged, and escalated episodes (to withdraw or re-send)."""
        with self._lock, self.engine.connect() as conn:
            rows = conn.execute(select(alerts).where(or_(
                and_(alerts.c.state == "firing", alerts.c.severity == "critical", alerts.c.acked_at.is_(None)),
                and_(alerts.c.escalation_level > 0, alerts.c.escalation_withdrawn_at.is_(None)),
            ))).mappings().all()
        return [dict(r) for r in rows]

    def firing(self) -> list[tuple[int, str, float]]:
        """(episode id, fingerprint, last notification received) of every episode recorded as firing."""
        with self._lock, self.engine.connect() as conn:
            rows = conn.execute(select(alerts.c.id, alerts.c.fingerprint, alerts.c.last_received)
                                .where(alerts.c.state == "firing")).all()
        return [(r.id, r.fingerprint, r.last_received) for r in rows]

    def mark_resolved(self, alert_id: int, now: float) -> None:
        """An episode Alertmanager no longer holds: its resolved notification never arrived (this service was
        down, or Alertmanager gave up delivering it)."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(update(alerts).where(and_(alerts.c.id == alert_id, alerts.c.state == "firing"))
                         .values(state="resolved", ends_at=now))
            conn.execute(insert(events).values(alert_id=alert_id, at=now, kind="resolved_unnotified",
                                               reason="no longer active in Alertmanager"))

    def firing_unacknowledged(self) -> dict[str, int]:
        """fingerprint -> episode id of firing alerts nobody acknowledged."""
        with self._lock, self.engine.connect() as conn:
            rows = conn.execute(select(alerts.c.fingerprint, alerts.c.id).where(and_(
                alerts.c.state == "firing", alerts.c.acked_at.is_(None)))).all()
        return {r.fingerprint: r.id for r in rows}

    def find(self, flt: AlertFilter) -> list[dict[str, Any]]:
        query = select(alerts)
        if flt.since is not None:
            query = query.where(or_(alerts.c.ends_at.is_(None), alerts.c.ends_at >= flt.since))
        if flt.until is not None:
            query = query.where(alerts.c.starts_at <= flt.until)
        if flt.service:
            query = query.where(alerts.c.service == flt.service)
        if flt.severity:
            query = query.where(alerts.c.severity == flt.severity)
        if flt.alertname:
            query = query.where(alerts.c.alertname == flt.alertname)
        if flt.state in ("firing", "resolved"):
            query = query.where(alerts.c.state == flt.state)
        elif flt.state == "acknowledged":
            query = query.where(alerts.c.acked_at.is_not(None))
        elif flt.state == "unacknowledged":
            query = query.where(alerts.c.acked_at.is_(None))
        query = query.order_by(alerts.c.starts_at.desc(), alerts.c.id.desc()).limit(flt.limit)
        with self._lock, self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings().all()]
            return self._with_details(conn, rows)

    def latest(self, fingerprint: str) -> dict[str, Any] | None:
        with self._lock, self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(alerts).where(alerts.c.fingerprint == fingerprint)
                                                  .order_by(alerts.c.starts_at.desc()).limit(1)).mappings()]
            return self._with_details(conn, rows)[0] if rows else None

    @staticmethod
    def _with_details(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids: Sequence[int] = [r["id"] for r in rows]
        if not ids:
            return rows
        by_alert: dict[int, dict[str, list[dict[str, Any]]]] = {i: {"notifications": [], "events": []} for i in ids}
        for n in conn.execute(select(notifications).where(notifications.c.alert_id.in_(ids))
                              .order_by(notifications.c.id)).mappings():
            by_alert[n["alert_id"]]["notifications"].append(dict(n))
        for e in conn.execute(select(events).where(events.c.alert_id.in_(ids)).order_by(events.c.id)).mappings():
            by_alert[e["alert_id"]]["events"].append(dict(e))
        for r in rows:
            r.update(by_alert[r["id"]])
        return rows
