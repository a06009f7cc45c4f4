"""Which outbox changes are webhook events."""

from __future__ import annotations

from headrace.domain.events import EventType, of_run_change


def test_a_runs_start_and_ends_are_events_and_nothing_else() -> None:
    assert of_run_change(None, "Pending", "Running") is EventType.RUN_STARTED
    assert of_run_change(None, "Running", "Succeeded") is EventType.RUN_SUCCEEDED
    assert of_run_change(None, "Running", "Failed") is EventType.RUN_FAILED
    assert of_run_change(None, "Running", "Error") is EventType.RUN_ERROR
    assert of_run_change(None, "Pending", "Cancelled") is EventType.RUN_CANCELLED
    assert of_run_change(None, None, "Pending") is None  # created
    assert of_run_change("step", "Running", "Succeeded") is None
    assert of_run_change(None, "Running", "Running") is None  # taken over
