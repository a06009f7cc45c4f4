"""Hostile step SQL (hostile_sql.yaml): refused at validation or failing at run time, and the
locked DuckDB connection refusing it on its own, as if validation had been bypassed."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from headrace.execution.sandbox import (
    OutputTooLarge,
    SandboxLimits,
    folder_bytes,
    fresh_connection,
    open_sandbox,
    write_outputs,
)
from headrace.execution.step import step_input
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from headrace.storage import delta
from headrace.storage.duck import ServiceDuck
from headrace.storage.warehouse import Warehouse
from tests.execution.support import (
    current_version,
    execute,
    get_run,
    read_rows,
    runtime_with,
    steps,
    table_path,
    write_dataset,
)
from tests.factories import Api, make_org, make_pipeline, make_run, make_step
from tests.stress import STRESS, scaled

ENTRIES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "hostile_sql.yaml").read_text()
)
BY_ID = {e["id"]: e for e in ENTRIES}
VALIDATION = "refused at validation"
RUN_TIME = "fails at run time"
# One query of each limit it meets (a hang, memory DuckDB tracks, memory it does not), for
# the bounded form of the suites that need not run every one; the stress form runs all.
SAMPLE = {"sleep", "string_agg_huge", "lpad_huge", "list_resize_huge"}
LIMITS = SandboxLimits(memory_limit="256MB", threads=1, max_temp_size="256MB")
SANDBOX_SECONDS = 1.0  # how long the sandbox alone lets a resource-exhausting query run
OUTPUT_MAX_BYTES = 8 * 1024 * 1024  # a step's output limit under short_limits
INTERNAL_NAME = "__headrace"  # the prefix of headrace's own names in a step's SQL


def assert_nothing_internal(text: str, *secrets: str) -> None:
    """``text`` (an error, a log, an API answer) names none of headrace's own SQL and none of
    ``secrets`` (the warehouse path, an organisation's id)."""
    for word in (INTERNAL_NAME, *secrets):
        at = text.find(word)
        assert at == -1, f"{word!r} in ...{text[max(0, at - 300) : at + 300]}..."


def test_the_suite_is_large_and_well_formed() -> None:
    assert len(ENTRIES) >= 60
    assert len(BY_ID) == len(ENTRIES)
    for entry in ENTRIES:
        assert entry["expected"] in (VALIDATION, RUN_TIME), entry
        assert entry["sandbox"] in ("refused", "harmless", "unbounded"), entry
        if entry["sandbox"] == "unbounded":  # only the step's process can stop it
            assert entry["expected"] == RUN_TIME and entry.get("limit") == "memory", entry
        assert entry["attempts"] and entry["query"], entry
        assert entry.get("limit") in (None, "time", "memory", "disk"), entry
        # every query that reaches run time says how its step must fail
        assert (entry["expected"] == RUN_TIME) == ("message" in entry), entry


def _files(root: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``root`` (not following links) with its content."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in skip]
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                found[path] = Path(path).read_bytes()
    return found


@dataclass
class Place:
    """A secret outside the warehouse, and the paths an attacker would aim at."""

    token: str
    paths: dict[str, str]

    def fill(self, query: str) -> str:
        return query.format(**self.paths)


def _secret(root: Path) -> tuple[str, Path]:
    token = f"SECRET-{uuid.uuid4().hex}"
    folder = root / "secret"
    folder.mkdir(parents=True)
    (folder / "passwd.csv").write_text(f"user,token\nroot,{token}\n")
    return token, folder / "passwd.csv"


def _write_table(table: str, query: str) -> str:
    """Write one version of a Delta table; return its Parquet file."""
    con = duckdb.connect()
    folder = delta.new_write_folder(table)
    copy = con.execute(
        f"COPY ({query}) TO '{folder}/part-0.parquet' (FORMAT parquet, RETURN_STATS)"
    ).fetchall()
    con.close()
    delta.commit_copy(table, copy, base=delta.open_base(table))
    return delta.snapshot(table, 0).files[0]


@dataclass
class Sandbox:
    con: duckdb.DuckDBPyConnection
    place: Place
    root: Path
    write: str
    spill: str


@dataclass
class Grounds:
    """What the attacks aim at, made once for all of them (each gets its own connection)."""

    place: Place
    root: Path
    numbers: delta.Snapshot
    write: str
    spill: str


@pytest.fixture(scope="module")
def grounds(tmp_path_factory: pytest.TempPathFactory) -> Grounds:
    """A real input table of org A, with org B's table, symlinks and a neighbouring spill
    folder around it."""
    tmp_path = tmp_path_factory.mktemp("grounds")
    token, secret = _secret(tmp_path)
    warehouse = Warehouse(str(tmp_path / "warehouse"))
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    numbers = warehouse.table(org_a, uuid.uuid4())
    _write_table(numbers, "SELECT range AS n FROM range(5)")
    other = _write_table(warehouse.table(org_b, uuid.uuid4()), f"SELECT '{token}' AS token")
    write = delta.new_write_folder(warehouse.table(org_a, uuid.uuid4()))
    spill_root = tmp_path / "spills"
    spill = spill_root / "headrace-spill-mine"
    spill.mkdir(parents=True)
    (spill_root / "neighbour").mkdir()
    (spill_root / "neighbour" / "secret.csv").write_text(f"token\n{token}\n")
    os.symlink(secret, os.path.join(write, "link.csv"))
    os.symlink(secret.parent, os.path.join(write, "linkdir"))
    os.symlink(secret, spill / "link.csv")
    paths = {
        "secret": str(secret),
        "secret_dir": str(secret.parent),
        "secret_rel": os.path.relpath(secret),
        "dotdot": os.path.join(write, os.path.relpath(secret, write)),
        "other_org": other,
        "symlink": os.path.join(write, "link.csv"),
        "symlink_dir": os.path.join(write, "linkdir"),
        "spill": str(spill),
        "outside": str(tmp_path / "secret" / "written.csv"),
        "outside_db": str(tmp_path / "secret" / "new.duckdb"),
        "outside_dir": str(tmp_path / "secret" / "export"),
        "warehouse": warehouse.root,
        "other_org_dir": os.path.dirname(other),
    }
    assert ".." in paths["dotdot"]
    return Grounds(Place(token, paths), tmp_path, delta.snapshot(numbers, 0), write, str(spill))


@pytest.fixture
def sandbox(grounds: Grounds) -> Iterator[Sandbox]:
    """A fresh locked connection over the grounds."""
    con = open_sandbox(
        fresh_connection(),
        {"numbers": step_input(grounds.numbers, ServiceDuck())},  # files: no DuckDB used
        [grounds.write],
        LIMITS,
        grounds.spill,
    )
    yield Sandbox(con, grounds.place, grounds.root, grounds.write, grounds.spill)
    con.close()


def test_the_sandbox_runs_legitimate_sql(sandbox: Sandbox) -> None:
    rows = sandbox.con.execute("SELECT sum(n) FROM numbers").fetchall()
    assert rows == [(10,)]
    # the symlinks are there and do point at the secret: refusals below are the sandbox's
    assert sandbox.place.token in Path(sandbox.place.paths["symlink"]).read_text()


# "unbounded" queries would take this process's memory: they run only in a step's process.
BOUNDED = sorted(e["id"] for e in ENTRIES if e["sandbox"] != "unbounded")


@pytest.mark.parametrize("entry_id", BOUNDED)
def test_the_sandbox_alone_refuses(sandbox: Sandbox, entry_id: str) -> None:
    entry = BY_ID[entry_id]
    query = sandbox.place.fill(entry["query"])
    skip = (sandbox.write, sandbox.spill)
    before = _files(sandbox.root, skip)
    # The sandbox has no clock of its own: the step's watchdog interrupts it (as here).
    watchdog = threading.Timer(SANDBOX_SECONDS, sandbox.con.interrupt)
    watchdog.start()
    try:
        result = repr(sandbox.con.execute(query).fetchall())
    except duckdb.Error as err:
        result = f"{type(err).__name__}: {err}"
        refused = True
    else:
        refused = False
    finally:
        watchdog.cancel()
    if entry["sandbox"] == "refused":
        assert refused, f"the sandbox ran {query!r}: {result}"
    if "limit" in entry:
        stopped = (duckdb.InterruptException, duckdb.OutOfMemoryException)
        assert result.startswith(tuple(e.__name__ for e in stopped)), result
    assert sandbox.place.token not in result
    assert _files(sandbox.root, skip) == before, "a file outside the step's output changed"
    # the lock still holds afterwards
    with pytest.raises(duckdb.Error):
        sandbox.con.execute(f"SELECT * FROM read_text('{sandbox.place.paths['secret']}')")


def _api_place(tmp_path: Path, settings: Settings) -> Place:
    token, secret = _secret(tmp_path)
    spill = tmp_path / "spills" / "headrace-spill-guess"
    warehouse = settings.effective_warehouse
    other = os.path.join(warehouse, uuid.uuid4().hex, uuid.uuid4().hex, "w-0", "part-0.parquet")
    paths = {
        "secret": str(secret),
        "secret_dir": str(secret.parent),
        "secret_rel": os.path.relpath(secret),
        "dotdot": os.path.join(warehouse, os.path.relpath(secret, warehouse)),
        "other_org": other,
        "symlink": os.path.join(warehouse, "link.csv"),
        "symlink_dir": os.path.join(warehouse, "linkdir"),
        "spill": str(spill),
        "outside": str(tmp_path / "secret" / "written.csv"),
        "outside_db": str(tmp_path / "secret" / "new.duckdb"),
        "outside_dir": str(tmp_path / "secret" / "export"),
        "warehouse": warehouse,
        "other_org_dir": os.path.dirname(other),
    }
    return Place(token, paths)


def _step_for(entry: dict[str, Any], query: str) -> dict[str, Any]:
    outputs = ["a", "b"] if entry.get("outputs", 1) == 2 else ["hostile_out"]
    return make_step("attack", query, [], outputs)


def test_validation_refuses_every_hostile_query_it_should(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """The refused queries all in one pipeline: each problem is located at its step."""
    place = _api_place(tmp_path, settings)
    refused = [e for e in ENTRIES if e["expected"] == VALIDATION]
    hostile = []
    for entry in refused:
        step = _step_for(entry, place.fill(entry["query"]))
        step["name"] = entry["id"]
        if entry.get("outputs", 1) == 1:
            step["config"]["output_datasets"] = [f"{entry['id']}_out"]
        hostile.append(step)
    body = {"name": "hostile", "steps": hostile}
    r = api.post("/pipelines/", json=body)
    assert r.status_code == 422, r.text
    # scripts share their outputs a and b: a second writer is no reason of refusal here
    beside = {"datasets.two_writers", "sql.output_not_created"}
    reasons: dict[str, set[str]] = {e["id"]: set() for e in refused}
    for error in r.json()["errors"]:
        if error["loc"][:1] == ["steps"] and error["type"] not in beside:
            reasons[error["loc"][1]].add(error["type"])
    assert {name for name, found in reasons.items() if not found} == set(), reasons
    for error in r.json()["errors"]:  # a path is quoted only when the step's SQL holds it
        query = place.fill(BY_ID[error["loc"][1]]["query"]) if error["loc"][:1] == ["steps"] else ""
        hidden = [s for s in (settings.effective_warehouse, str(api.org_id)) if s not in query]
        assert_nothing_internal(json.dumps(error), *hidden)


def test_each_query_that_passes_validation_is_saved_alone(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """Each in a pipeline of its own, so saving binds each one (many build a huge constant as
    they bind, and binding stops them at its own limits): every one is saved."""
    place = _api_place(tmp_path, settings)
    for entry in ENTRIES:
        if entry["expected"] == RUN_TIME:
            step = _step_for(entry, place.fill(entry["query"]))
            r = api.post("/pipelines/", json={"name": f"ok-{entry['id']}", "steps": [step]})
            assert r.status_code == 201, r.text


def short_limits(settings: Settings) -> Settings:
    """The step limits hostile queries run under in tests: they end in seconds, not hours."""
    return settings.model_copy(
        update={
            "step_timeout_seconds": scaled(1, 20),
            "step_memory_limit": "128MB",
            "step_threads": 1,
            "max_parallel_steps": 4,
            "step_output_max_bytes": OUTPUT_MAX_BYTES,
        }
    )


def test_hostile_sql_that_passes_validation_fails_at_run_time(
    runtime: Runtime,
    api: Api,
    db: Database,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every such query as a step of one run, beside an honest step: each hostile step fails
    with its own clear message (its time or memory limit named), the honest one succeeds."""
    entries = [e for e in ENTRIES if e["expected"] == RUN_TIME]
    place = _api_place(tmp_path, settings)
    attacks = [make_step(e["id"], place.fill(e["query"]), [], [f"{e['id']}_out"]) for e in entries]
    honest = make_step("honest", "SELECT range AS n FROM range(1000)", [], ["honest_out"])
    r = api.post("/pipelines/", json={"name": "hostile", "steps": [*attacks, honest]})
    assert r.status_code == 201, r.text
    pipeline = r.json()
    before = _files(tmp_path)
    caplog.set_level(logging.DEBUG)
    run = make_run(api, pipeline["id"])
    with runtime_with(runtime, short_limits(settings)) as limited:
        execute(limited, run["id"])
    ended = get_run(api, pipeline["id"], run["id"])
    assert ended["status"] == "Failed", ended
    by_name = steps(ended)
    assert by_name["honest"]["status"] == "Succeeded", by_name["honest"]
    assert read_rows(table_path(db, settings, api.org_id, "honest_out"), 0) == [
        (n,) for n in sorted(range(1000), key=lambda n: repr((n,)))
    ]
    hidden = (settings.effective_warehouse, str(api.org_id))
    for entry in entries:
        attack = by_name[entry["id"]]
        assert attack["status"] == "Failed", attack
        assert re.search(entry["message"], attack["error"]), (entry["id"], attack["error"])
        assert attack["output_versions"] == {}
        logs = api.get(f"/pipelines/{pipeline['id']}/runs/{run['id']}/steps/{entry['id']}/logs/")
        assert place.token not in logs.text
        assert_nothing_internal(logs.text, *hidden)
    assert place.token not in str(ended) and place.token not in caplog.text
    assert_nothing_internal(json.dumps(ended), settings.effective_warehouse)
    assert_nothing_internal(caplog.text, *hidden)
    assert _files(tmp_path) == before, "a failed step left or changed files"


def _checked_step(name: str, checks: list[dict[str, Any]]) -> dict[str, Any]:
    step = make_step(name, "SELECT range AS n FROM range(10)", [], [f"{name}_out"])
    step["config"]["checks"] = checks
    return step


def test_validation_refuses_every_hostile_query_as_a_check(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """A check's SQL is held to a step's rules: each hostile query refused at validation is
    refused as a check's ``query`` too, located at its check, all in one 422."""
    place = _api_place(tmp_path, settings)
    refused = [e for e in ENTRIES if e["expected"] == VALIDATION]
    checks = [{"name": e["id"], "type": "sql", "query": place.fill(e["query"])} for e in refused]
    r = api.post("/pipelines/", json={"name": "hostile", "steps": [_checked_step("c", checks)]})
    assert r.status_code == 422, r.text
    located = {error["loc"][4] for error in r.json()["errors"] if error["loc"][3:4] == ["checks"]}
    assert located == set(range(len(refused))), [
        refused[i]["id"] for i in set(range(len(refused))) - located
    ]
    for error in r.json()["errors"]:
        query = checks[error["loc"][4]]["query"]
        hidden = [s for s in (settings.effective_warehouse, str(api.org_id)) if s not in query]
        assert_nothing_internal(json.dumps(error), *hidden)


def test_hostile_check_sql_that_passes_validation_is_stopped_at_run_time(
    runtime: Runtime,
    api: Api,
    db: Database,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each hostile query that passes validation, as the check of an honest step: the check
    runs under the step's limits, so the step fails (its time or memory limit named when the
    query meets one), nothing is committed and nothing secret or internal is shown. Every
    query's own failure is checked, and of those meeting a limit a sample (every one in the
    stress form: the step suite above runs each against the limits the checks share)."""
    entries = [
        e
        for e in ENTRIES
        if e["expected"] == RUN_TIME and (e.get("limit") is None or STRESS or e["id"] in SAMPLE)
    ]
    place = _api_place(tmp_path, settings)
    body = [
        _checked_step(e["id"], [{"type": "sql", "query": place.fill(e["query"])}]) for e in entries
    ]
    pipeline = make_pipeline(api, body)
    caplog.set_level(logging.DEBUG)
    run = make_run(api, pipeline["id"])
    with runtime_with(runtime, short_limits(settings)) as limited:
        execute(limited, run["id"])
    ended = get_run(api, pipeline["id"], run["id"])
    by_name = steps(ended)
    hidden = (settings.effective_warehouse, str(api.org_id))
    for entry in entries:
        step = by_name[entry["id"]]
        assert step["status"] == "Failed", step
        assert step["output_versions"] == {}
        assert current_version(db, api.org_id, f"{entry['id']}_out") is None
        if entry.get("limit") is not None:
            assert re.search(entry["message"], step["error"]), (entry["id"], step["error"])
        else:  # the check's own SQL failed, or found rows: either way it blocked
            [check] = step["checks"]
            assert check["status"] in ("error", "failed"), check
    assert place.token not in json.dumps(ended) and place.token not in caplog.text
    assert_nothing_internal(json.dumps(ended), settings.effective_warehouse)
    assert_nothing_internal(caplog.text, *hidden)


def test_another_organisations_table_is_out_of_reach(
    runtime: Runtime, api: Api, db: Database, settings: Settings, tmp_path: Path
) -> None:
    """Org B's real Delta file: org A can neither name it in SQL nor read it in a sandbox
    built for org A's own inputs; naming B's dataset reaches nothing of B's."""
    other = make_org(api.client, db)
    token = f"SECRET-{uuid.uuid4().hex}"
    write_dataset(other, runtime, "vault", f"SELECT '{token}' AS token")
    vault = table_path(db, settings, other.org_id, "vault")
    [path] = delta.snapshot(vault, 0).files
    assert token.encode() in Path(path).read_bytes() or os.path.getsize(path) > 0
    for query in (
        f"SELECT * FROM read_parquet('{path}')",
        f"SELECT * FROM '{path}'",
        f"SELECT * FROM read_blob('{path}')",
    ):
        r = api.post("/pipelines/", json={"name": "steal", "steps": [make_step("s", query)]})
        assert r.status_code == 422, r.text
    # org A declaring an input called "vault" gets its own (missing) dataset, not B's
    thief = make_pipeline(api, [make_step("s", "SELECT * FROM vault", ["vault"], ["loot"])])
    r = api.post(f"/pipelines/{thief['id']}/runs/", json={})
    assert r.status_code == 422, r.text
    # and a sandbox over org A's own table refuses B's file
    mine = write_dataset(api, runtime, "mine", "SELECT 1 AS n")
    assert mine["status"] == "Succeeded"
    own = delta.snapshot(table_path(db, settings, api.org_id, "mine"), 0)
    spill = tmp_path / "spill"
    spill.mkdir()
    con = open_sandbox(
        fresh_connection(), {"mine": step_input(own, ServiceDuck())}, [], LIMITS, str(spill)
    )
    try:
        assert con.execute("SELECT n FROM mine").fetchall() == [(1,)]
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
    finally:
        con.close()


ENDLESS_OUTPUT = BY_ID["disk_fill"]["query"]


def test_an_endless_output_is_stopped_at_the_output_limit(sandbox: Sandbox) -> None:
    """Stopped while it writes (measured from outside, every few milliseconds): the folder
    never holds much more than the limit."""
    peak = 0
    done = threading.Event()

    def measure() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, folder_bytes([sandbox.write]))
            done.wait(0.005)

    watcher = threading.Thread(target=measure)
    watcher.start()
    try:
        with pytest.raises(OutputTooLarge, match="grew past 8,388,608 bytes"):
            write_outputs(sandbox.con, ENDLESS_OUTPUT, {"o": sandbox.write}, OUTPUT_MAX_BYTES)
    finally:
        done.set()
        watcher.join()
    assert OUTPUT_MAX_BYTES < peak < 2 * OUTPUT_MAX_BYTES, peak


def test_outputs_are_limited_together_even_when_each_fits(tmp_path: Path) -> None:
    script = (
        "CREATE TABLE a AS SELECT range AS n, 'row ' || range AS s FROM range(200000); "
        "CREATE TABLE b AS SELECT * FROM a"
    )

    def write(limit: int) -> list[int]:
        """The bytes of each output written under ``limit``."""
        folders = {name: str(tmp_path / uuid.uuid4().hex) for name in ("a", "b")}
        for folder in folders.values():
            os.makedirs(folder)
        con = open_sandbox(fresh_connection(), {}, list(folders.values()), LIMITS, str(tmp_path))
        try:
            write_outputs(con, script, folders, limit)
        finally:
            con.close()
        return [folder_bytes([folder]) for folder in folders.values()]

    sizes = write(0)
    with pytest.raises(OutputTooLarge):
        write(max(sizes) + 1)
    assert sum(write(sum(sizes))) == sum(sizes)


def test_a_step_writing_past_the_output_limit_fails_and_keeps_nothing(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    """Failed (the step's own doing) long before its timeout, with one sentence; the partial
    files are removed, no version is made, and the run's other step still succeeds."""
    limited = short_limits(settings).model_copy(update={"step_timeout_seconds": 120})
    fill = make_step("fill", ENDLESS_OUTPUT, [], ["filled"])
    small = make_step("small", "SELECT 1 AS n", [], ["small_out"])
    pipeline = make_pipeline(api, [fill, small])
    run = make_run(api, pipeline["id"])
    started = time.perf_counter()
    with runtime_with(runtime, limited) as on_limits:
        execute(on_limits, run["id"])
    elapsed = time.perf_counter() - started
    by_name = steps(get_run(api, pipeline["id"], run["id"]))
    assert by_name["small"]["status"] == "Succeeded", by_name["small"]
    failed = by_name["fill"]
    assert failed["status"] == "Failed", failed
    assert failed["error"] == (
        "the step's output grew past 8,388,608 bytes, the most a step may write "
        "(HEADRACE_STEP_OUTPUT_MAX_BYTES), so it was stopped and nothing was kept"
    )
    assert failed["output_versions"] == {}
    assert elapsed < 60, elapsed
    assert current_version(db, api.org_id, "filled") is None
    table = table_path(db, settings, api.org_id, "filled")
    assert not [f for _, _, files in os.walk(table) for f in files], "partial files were kept"
