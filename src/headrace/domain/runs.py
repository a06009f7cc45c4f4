"""Run and run-step statuses (Argo's vocabulary) and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"  # a step's own work failed: bad SQL, schema mismatch
    ERROR = "Error"  # the system failed: executor lost, out of memory, storage
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_RUN


class StepStatus(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"  # not selected in a partial run, or its output reused by a retry
    OMITTED = "Omitted"  # an upstream step did not succeed

    @property
    def terminal(self) -> bool:
        return self is not StepStatus.PENDING and self is not StepStatus.RUNNING


TERMINAL_RUN = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ERROR, RunStatus.CANCELLED}
)

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.ERROR}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ERROR, RunStatus.CANCELLED}
    ),
}

STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    StepStatus.PENDING: frozenset(
        {
            StepStatus.RUNNING,
            StepStatus.CANCELLED,
            StepStatus.OMITTED,
            StepStatus.SKIPPED,
            StepStatus.ERROR,
        }
    ),
    StepStatus.RUNNING: frozenset(
        {
            StepStatus.SUCCEEDED,
            StepStatus.FAILED,
            StepStatus.ERROR,
            StepStatus.CANCELLED,
            # a worker that lost its lease hands the step back to be run again
            StepStatus.PENDING,
        }
    ),
}


class IllegalTransition(ValueError):
    """A status change the state machine does not allow."""


def transition_run(current: RunStatus, target: RunStatus) -> RunStatus:
    """Return ``target`` if a run may move there from ``current``, else raise."""
    if target not in RUN_TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"run cannot move from {current} to {target}")
    return target


def transition_step(current: StepStatus, target: StepStatus) -> StepStatus:
    """Return ``target`` if a step may move there from ``current``, else raise."""
    if target not in STEP_TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(f"step cannot move from {current} to {target}")
    return target


def run_outcome(step_statuses: list[StepStatus]) -> RunStatus:
    """The status of a run whose steps have all ended: the worst of them wins."""
    if any(s is StepStatus.ERROR for s in step_statuses):
        return RunStatus.ERROR
    if any(s is StepStatus.FAILED for s in step_statuses):
        return RunStatus.FAILED
    if any(s is StepStatus.CANCELLED for s in step_statuses):
        return RunStatus.CANCELLED
    return RunStatus.SUCCEEDED
