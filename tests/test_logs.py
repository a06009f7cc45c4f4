"""Log lines carry the run and step they are about as fields bound around the work
(``logs.bound``), in both formats; nothing is guessed from the message's text."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

from headrace.logs import bound, handler
from headrace.settings import Settings


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO, io.StringIO]]:
    """A logger writing to two streams, one per format, as ``configure`` sets them up."""
    logger = logging.getLogger(f"headrace.test.{uuid.uuid4().hex}")
    as_json, as_text = io.StringIO(), io.StringIO()
    handlers = [
        handler(Settings(log_format="json"), stream=as_json),
        handler(Settings(log_format="text"), stream=as_text),
    ]
    for h in handlers:
        logger.addHandler(h)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, as_json, as_text
    for h in handlers:
        logger.removeHandler(h)


def _json(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_inside_bound_blocks_carry_the_run_and_the_step(
    lines: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, as_json, as_text = lines
    run_id = uuid.uuid4()
    logger.info("before")
    with bound(run_id=run_id):
        logger.info("claimed")
        with bound(step="gen"):
            logger.info("started %s", "now")
        logger.info("between steps")
    logger.info("after")
    found = [(line["message"], line.get("run_id"), line.get("step")) for line in _json(as_json)]
    assert found == [
        ("before", None, None),
        ("claimed", str(run_id), None),
        ("started now", str(run_id), "gen"),
        ("between steps", str(run_id), None),
        ("after", None, None),
    ]
    text = as_text.getvalue().splitlines()
    assert text[0].endswith(" before")
    assert text[2].endswith(f" started now [run_id={run_id} step=gen]")
    assert text[4].endswith(" after")


def test_the_message_text_is_not_read_for_a_run_id(
    lines: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, as_json, _ = lines
    logger.info("run %s Succeeded", uuid.uuid4())
    assert "run_id" not in _json(as_json)[0]


def test_an_extra_run_id_wins_over_the_bound_one(
    lines: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, as_json, _ = lines
    mine, other = uuid.uuid4(), uuid.uuid4()
    with bound(run_id=mine):
        logger.info("about another run", extra={"run_id": str(other)})
    assert _json(as_json)[0]["run_id"] == str(other)


def test_runs_on_concurrent_threads_keep_their_own_fields(
    lines: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, as_json, _ = lines
    both_bound = threading.Barrier(2)
    ids = {name: uuid.uuid4() for name in ("a", "b")}

    def work(name: str) -> None:
        with bound(run_id=ids[name], step=name):
            both_bound.wait(10)  # each logs while the other's fields are bound too
            logger.info("step %s", name)

    threads = [threading.Thread(target=work, args=(n,)) for n in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    found = {line["step"]: line["run_id"] for line in _json(as_json)}
    assert found == {name: str(run_id) for name, run_id in ids.items()}


def test_an_exception_follows_the_fields_in_text(
    lines: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, as_json, as_text = lines
    with bound(step="gen"):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    first, *rest = as_text.getvalue().splitlines()
    assert first.endswith(" failed [step=gen]")
    assert rest[0] == "Traceback (most recent call last):"
    assert "ValueError: boom" in _json(as_json)[0]["exception"]  # type: ignore[operator]


def test_importing_headrace_leaves_the_logging_of_libraries_alone() -> None:
    """Only ``configure`` (a process's start-up) quiets sqlglot; an import changes nothing."""
    code = (
        "import logging, sys; import headrace.domain.sql, headrace.api.app; "
        "before = logging.getLogger('sqlglot').level; "
        "from headrace.logs import configure; from headrace.settings import Settings; "
        "configure(Settings()); print(before, logging.getLogger('sqlglot').level)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [str(logging.NOTSET), str(logging.ERROR)]
