"""The Argo executor against the fake Argo Server: a worker claims a run, hands it to Argo,
and the step pods run the real steps (``StepRunner``) against the test's metadata store."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from headrace.domain.access import Principal, Role
from headrace.domain.records import RunRecord
from headrace.domain.runs import StepStatus
from headrace.execution.step import StepRunner
from headrace.execution.step_process import ReadyProcesses
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.runtime import Runtime
from headrace.services import runs as runs_service
from headrace.services.executors import open_worker
from headrace.services.step_store import DatabaseStepStore, step_of_node
from headrace.settings import Settings
from tests.execution.argo.fake_argo import POD_ERROR_MESSAGE, FakeArgo, Fault
from tests.execution.argo.pod_command import option
from tests.factories import (
    Api,
    diamond_steps,
    generated_steps,
    make_pipeline,
    make_run,
    make_step,
    move_run_to,
)


@dataclass
class Harness:
    api: Api
    db: Database
    settings: Settings
    steps: ReadyProcesses  # the session's step processes, shared by the pods and workers here
    fake: FakeArgo
    # step name → what its pod does instead of running the step: "error", or a callable
    pods: dict[str, Any]

    def pod(self, command: list[str]) -> int | str:
        run_id = option(command, "--run")
        step = step_of_node(self.db, uuid.UUID(run_id), option(command, "--node"))
        special = self.pods.get(step)
        if special == "error":
            # The pod starts (records Running), then is OOM-killed before recording its end.
            move_run_to(self.db, run_id, steps={step: StepStatus.RUNNING})
            return "error"
        if callable(special):
            special(run_id)
        with self.runtime() as pod:  # a pod has a runtime of its own
            runner = StepRunner(DatabaseStepStore(pod.db, pod.graphs), pod)
            outcome = runner.run(uuid.UUID(run_id), step)
        return 0 if outcome.status.value == "Succeeded" else 1

    def runtime(self) -> Runtime:
        """A runtime of the current settings (a test may change them), on the test store."""
        return Runtime(self.settings, self.db, steps=self.steps)

    def run(self, steps: list[dict[str, Any]], **run_body: Any) -> tuple[dict[str, Any], RunRecord]:
        pipeline = make_pipeline(self.api, steps)
        created = make_run(self.api, pipeline["id"], **run_body)
        return pipeline, self.execute(uuid.UUID(created["id"]))

    def execute(self, run_id: uuid.UUID) -> RunRecord:
        with self.runtime() as runtime:
            worker = open_worker(runtime)
            assert worker.claim(only=run_id) == run_id
            worker.execute(run_id)
        return self.load(run_id)

    def load(self, run_id: uuid.UUID) -> RunRecord:
        with self.db.unit_of_work(write=False) as conn:
            run = runs_repo.get_by_id(conn, run_id)
        assert run is not None
        return run

    def seen(self, method: str, suffix: str = "") -> list[Any]:
        return [r for r in self.fake.requests if r.method == method and r.path.endswith(suffix)]


@pytest.fixture
def argo(api: Api, db: Database, settings: Settings, runtime: Runtime) -> Iterator[Harness]:
    pods: dict[str, Any] = {}
    holder: list[Harness] = []
    fake = FakeArgo(pod=lambda command: holder[0].pod(command))
    url = fake.start()
    argo_settings = settings.model_copy(
        update={
            "executor": "argo",
            "argo_server_url": url,
            "argo_token": SecretStr(fake.token),
            "argo_poll_seconds": 0.0,
            "argo_backoff_seconds": 0.01,
            "argo_retries": 3,
        }
    )
    harness = Harness(api, db, argo_settings, runtime.steps, fake, pods)
    holder.append(harness)
    yield harness
    fake.stop()


def statuses(run: RunRecord) -> dict[str, str]:
    return {s.name: s.status for s in run.steps}


def test_run_succeeds_on_argo(argo: Harness) -> None:
    _, run = argo.run(generated_steps())

    assert run.status == "Succeeded"
    assert statuses(run) == {"gen": "Succeeded", "double": "Succeeded", "total": "Succeeded"}
    assert all(s.output_versions and s.finished_at for s in run.steps)  # written by the pods
    assert argo.fake.violations == []
    (create,) = argo.seen("POST")
    assert create.body == {"namespace": "headrace", "workflow": run.argo_manifest}
    polls = argo.seen("GET")
    assert polls and all(p.query["fields"][0].startswith("metadata.name,") for p in polls)
    meta = run.argo_metadata
    sim = argo.fake.workflows[("headrace", run.name)]
    assert meta["executor"] == "argo"
    assert meta["uid"] == sim.obj["metadata"]["uid"]
    assert meta["creationTimestamp"] == sim.obj["metadata"]["creationTimestamp"]
    assert (meta["name"], meta["namespace"], meta["phase"]) == (run.name, "headrace", "Succeeded")
    assert meta["progress"] == "3/3"
    assert {n: v["phase"] for n, v in meta["nodes"].items()} == {
        s.run_name: "Succeeded" for s in run.steps
    }
    assert run.finished_at is not None


def test_failed_step_fails_run_and_omits_downstream(argo: Harness) -> None:
    steps = diamond_steps()
    steps[1] = make_step("left", "SELECT CAST('not a number' AS INTEGER) AS n", ["base"], ["evens"])

    _, run = argo.run(steps)

    assert run.status == "Failed"
    assert statuses(run) == {
        "src": "Succeeded",
        "left": "Failed",
        "right": "Succeeded",  # failFast is off: the independent branch finishes
        "join": "Omitted",
    }
    left = next(s for s in run.steps if s.name == "left")
    assert left.error and "not a number" in left.error  # the pod's message, not "exit code 1"
    join = next(s for s in run.steps if s.name == "join")
    assert join.started_at is None and join.finished_at is not None
    assert run.argo_metadata["phase"] == "Failed"
    assert run.argo_metadata["nodes"][join.run_name]["phase"] == "Omitted"
    assert argo.fake.violations == []


def test_pod_error_turns_run_error(argo: Harness) -> None:
    argo.pods["double"] = "error"

    _, run = argo.run(generated_steps())

    assert run.status == "Error"
    assert statuses(run) == {"gen": "Succeeded", "double": "Error", "total": "Omitted"}
    double = next(s for s in run.steps if s.name == "double")
    assert double.error == POD_ERROR_MESSAGE
    sim = argo.fake.workflows[("headrace", run.name)]
    assert len(sim.tasks["double"].attempts) == 3  # retryStrategy limit 2, policy OnError
    assert argo.fake.violations == []


def test_cancel_stops_the_workflow(argo: Harness, db: Database) -> None:
    def cancel(run_id: str) -> None:
        run = argo.load(uuid.UUID(run_id))
        who = Principal(org_id=run.org_id, key_id=uuid.uuid4(), role=Role.BUILDER)
        runs_service.cancel(db, who, run.pipeline_id, run.id)

    argo.pods["double"] = cancel  # the user cancels while `double` runs

    _, run = argo.run(generated_steps())

    (stop,) = argo.seen("PUT", "/stop")
    assert stop.body == {
        "namespace": "headrace",
        "name": run.name,
        "message": "cancelled in headrace",
    }
    assert run.status == "Cancelled"
    assert statuses(run)["gen"] == "Succeeded"
    # `double` finished before the stop reached its pod; `total` never started.
    assert statuses(run)["double"] == "Succeeded"
    assert statuses(run)["total"] == "Cancelled"
    assert run.argo_metadata["phase"] == "Failed"  # Argo's word for a stopped workflow
    assert argo.fake.violations == []


def test_unreachable_server_turns_run_error(argo: Harness) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    argo.settings = argo.settings.model_copy(update={"argo_server_url": dead})

    _, run = argo.run(generated_steps())

    assert run.status == "Error"
    message = run.argo_metadata["message"]
    assert message.startswith("the workflow could not be submitted: the Argo Server at " + dead)
    assert "unreachable" in message and "4 attempts" in message
    assert set(statuses(run).values()) == {"Error"}
    assert all(s.error == message for s in run.steps)
    assert run.finished_at is not None


def test_server_lost_mid_run_keeps_what_was_seen(argo: Harness) -> None:
    argo.fake.gets_until_shutdown = 6  # `gen` has succeeded by then; then the server is gone

    _, run = argo.run(generated_steps())

    assert run.status == "Error"
    assert statuses(run)["gen"] == "Succeeded"
    gen = next(s for s in run.steps if s.name == "gen")
    assert run.argo_metadata["nodes"][gen.run_name]["phase"] == "Succeeded"
    assert run.argo_metadata["uid"] is not None
    assert run.argo_metadata["message"].startswith(f"lost track of workflow {run.name}: ")
    assert statuses(run)["total"] == "Error"
    assert argo.fake.violations == []


def test_transient_failures_are_retried(argo: Harness) -> None:
    argo.fake.faults += [
        Fault("POST", status=503),
        Fault("POST", status=502),
        Fault("GET", status=429, retry_after="0"),
        Fault("GET", drop=True),  # the connection drops mid-poll
    ]

    _, run = argo.run(generated_steps())

    assert run.status == "Succeeded"
    assert [r.answered for r in argo.seen("POST")] == [503, 502, 200]
    assert [r.answered for r in argo.seen("GET")][:2] == [429, "dropped"]
    assert len(argo.fake.workflows) == 1
    assert argo.fake.violations == []


def test_lost_create_answer_follows_the_existing_workflow(argo: Harness) -> None:
    argo.fake.faults.append(Fault("POST", drop=True, after_handling=True))

    _, run = argo.run(generated_steps())

    assert [r.answered for r in argo.seen("POST")] == [200, 409]
    assert run.status == "Succeeded"
    assert len(argo.fake.workflows) == 1
    assert argo.fake.violations == []


def test_wrong_token_is_a_readable_error(argo: Harness) -> None:
    argo.settings = argo.settings.model_copy(update={"argo_token": SecretStr("wrong")})

    _, run = argo.run(generated_steps())

    assert run.status == "Error"
    assert "answered 401: token not valid" in run.argo_metadata["message"]
    assert argo.fake.workflows == {}


def test_retry_is_a_new_workflow_of_the_steps_to_run_again(argo: Harness, db: Database) -> None:
    argo.pods["double"] = "error"
    _, first = argo.run(generated_steps())
    assert first.status == "Error"
    del argo.pods["double"]
    who = Principal(org_id=first.org_id, key_id=uuid.uuid4(), role=Role.BUILDER)

    retry = runs_service.retry(db, argo.settings, who, first.pipeline_id, first.id).run
    second = argo.execute(retry.id)

    assert second.status == "Succeeded"
    assert second.name != first.name
    assert set(argo.fake.workflows) == {("headrace", first.name), ("headrace", second.name)}
    tasks = argo.fake.workflows[("headrace", second.name)].tasks
    assert sorted(tasks) == ["double", "total"]  # task names: these step names are DNS labels
    assert statuses(second) == {"gen": "Skipped", "double": "Succeeded", "total": "Succeeded"}
    assert argo.fake.violations == []


def test_a_reused_step_is_no_task_and_a_run_with_nothing_to_run_is_not_submitted(
    argo: Harness,
) -> None:
    pipeline, first = argo.run(generated_steps())
    assert first.status == "Succeeded"
    changed = generated_steps()
    changed[1]["config"]["query"] = "SELECT n * 3 AS n FROM numbers"
    r = argo.api.post(f"/pipelines/{pipeline['id']}/versions/", json={"steps": changed})
    assert r.status_code == 201, r.text

    second = argo.execute(uuid.UUID(make_run(argo.api, pipeline["id"])["id"]))
    assert second.status == "Succeeded"
    assert sorted(argo.fake.workflows[("headrace", second.name)].tasks) == ["double", "total"]
    gen = {s.name: s for s in second.steps}["gen"]
    assert (gen.status, gen.reused_from_run_id, gen.reused_from_step) == (
        "Skipped",
        first.id,
        "gen",
    )

    third = argo.execute(uuid.UUID(make_run(argo.api, pipeline["id"])["id"]))
    assert third.status == "Succeeded"
    assert set(statuses(third).values()) == {"Skipped"}
    assert ("headrace", third.name) not in argo.fake.workflows  # nothing was submitted
    assert len(argo.seen("POST")) == 2
    assert argo.fake.violations == []
