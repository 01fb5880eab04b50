"""Alertmanager's webhook payload (version 4), validated: what the history keeps of each notification."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WebhookAlert", "WebhookMessage"]

_ZERO_TIME = "0001-01-01T00:00:00Z"


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Alertmanager may add fields

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)

    def as_row(self) -> dict[str, object]:
        ends = self.endsAt.timestamp() if self.endsAt is not None and self.endsAt.year > 1 else None
        return {"status": self.status, "labels": self.labels, "annotations": self.annotations,
                "starts_at": self.startsAt.timestamp(), "ends_at": ends, "generator_url": self.generatorURL,
                "fingerprint": self.fingerprint}


class WebhookMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    receiver: str
    status: Literal["firing", "resolved"]
    groupKey: str = ""
    alerts: list[WebhookAlert]
