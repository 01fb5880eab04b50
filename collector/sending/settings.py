"""Config of the shared sender (otelcol exporterhelper keys): ``sending_queue``, ``retry_on_failure``, ``timeout``.

An exporter's ``Config`` subclasses `SenderSettings` to be wrapped in the sender by the pipeline.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from collector.config_types import Duration

__all__ = ["QueueSettings", "RetrySettings", "SenderSettings"]


class QueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    num_consumers: int = Field(default=10, ge=1)
    queue_size: int = Field(default=1000, ge=1, description="capacity, in batches")
    storage: str | None = Field(
        default=None, description="id of a file_storage extension: makes the queue persistent on disk"
    )
    block_on_overflow: bool = False


class RetrySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    initial_interval: Duration = 5.0
    randomization_factor: float = Field(default=0.5, ge=0.0, le=1.0)
    multiplier: float = Field(default=1.5, ge=1.0)
    max_interval: Duration = 30.0
    max_elapsed_time: Duration = Field(
        default=300.0,
        description="give up after this long (0 = never). With a persistent queue, data whose retries ran "
        "out goes back to the queue instead of being dropped.",
    )


class SenderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sending_queue: QueueSettings = Field(default_factory=QueueSettings)
    retry_on_failure: RetrySettings = Field(default_factory=RetrySettings)
    timeout: Duration = 5.0
