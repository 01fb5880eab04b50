"""Alert history and escalation: ``otel-distro alerts serve``.

Alertmanager's webhook (part of every receiver) records each firing and resolved notification; critical alerts
nobody acknowledges are escalated through Alertmanager (``escalation_level`` label). See `_service`, `_server`,
`_escalation` and `_store`.
"""

from __future__ import annotations

from otel_distro.alerts._service import HistoryService
from otel_distro.alerts._store import AlertFilter, AlertStore

__all__ = ["AlertFilter", "AlertStore", "HistoryService"]
