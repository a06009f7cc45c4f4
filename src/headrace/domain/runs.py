"""Run and run-step statuses (Argo's vocabulary) and the transitions allowed between them.

These rules are the only ones: ``services/lifecycle.py`` applies them to every status change
before it is written, so an illegal move raises instead of reaching the metadata store.
"""

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


def step_path(current: StepStatus, target: StepStatus) -> list[StepStatus]:
    """The legal moves that take a step from ``current`` to ``target`` ([] when it is there).

    A backend may report the end of a step it never reported starting (an Argo pod that ran
    between two polls): such a step goes through Running, so every recorded move is one the
    state machine allows. Raises ``IllegalTransition`` when no such path exists."""
    if current is target:
        return []
    if target in STEP_TRANSITIONS.get(current, frozenset()):
        return [target]
    if current is StepStatus.PENDING and target in STEP_TRANSITIONS[StepStatus.RUNNING]:
        return [StepStatus.RUNNING, target]
    raise IllegalTransition(f"step cannot move from {current} to {target}")


def leftover_status(outcome: RunStatus) -> StepStatus:
    """What the steps still open become when their run ends: a cancelled run's were
    cancelled, a failed run's were never reached (Omitted), anything else is the system's
    failure."""
    if outcome is RunStatus.CANCELLED:
        return StepStatus.CANCELLED
    if outcome is RunStatus.FAILED:
        return StepStatus.OMITTED
    return StepStatus.ERROR


def final_outcome(phase: str, steps: list[StepStatus], *, stopped: bool) -> RunStatus:
    """A run's end from what its backend says (``phase``, Argo's workflow phase word) and what
    its steps recorded: a run stopped at our request is Cancelled; the backend's Error is the
    system's; a Failed workflow whose step recorded Error (storage, our bug: the pod exits 1
    like a failed query) is Error; a workflow that ended with steps still open is Error."""
    if stopped:
        return RunStatus.CANCELLED
    if phase == "Error":
        return RunStatus.ERROR
    if phase == "Failed":
        return RunStatus.ERROR if StepStatus.ERROR in steps else RunStatus.FAILED
    if any(not s.terminal for s in steps):
        return RunStatus.ERROR
    return run_outcome(steps)


def run_outcome(step_statuses: list[StepStatus]) -> RunStatus:
    """The status of a run whose steps have all ended: the worst of them wins."""
    if any(s is StepStatus.ERROR for s in step_statuses):
        return RunStatus.ERROR
    if any(s is StepStatus.FAILED for s in step_statuses):
        return RunStatus.FAILED
    if any(s is StepStatus.CANCELLED for s in step_statuses):
        return RunStatus.CANCELLED
    return RunStatus.SUCCEEDED
