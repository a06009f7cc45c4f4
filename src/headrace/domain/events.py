"""The events other systems can subscribe to (webhooks), named as the outbox's changes are
told outside: a run starting or ending, and a dataset gaining a version."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    RUN_STARTED = "run.started"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_ERROR = "run.error"
    RUN_CANCELLED = "run.cancelled"
    DATASET_VERSION = "dataset.version"


_OF_RUN_STATUS = {
    "Running": EventType.RUN_STARTED,
    "Succeeded": EventType.RUN_SUCCEEDED,
    "Failed": EventType.RUN_FAILED,
    "Error": EventType.RUN_ERROR,
    "Cancelled": EventType.RUN_CANCELLED,
}


def of_run_change(step: str | None, old: str | None, new: str) -> EventType | None:
    """The event a change of the outbox is, if any: a run's own move to Running (from
    Pending: a run taken over by another worker does not start again) or to an end. Step
    changes and a run's creation are no event of their own."""
    if step is not None or old is None:
        return None
    if new == "Running" and old != "Pending":
        return None
    return _OF_RUN_STATUS.get(new)
