"""Validate a pipeline version's steps, collecting every problem with its location.

Locations read ``("steps", <step name>, "config", <field>)`` so a user can find the step at
once; a step without a usable name is located by its position instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from headrace.domain.checks import validate_checks
from headrace.domain.dag import Dag
from headrace.domain.names import check_text
from headrace.domain.parameters import SCHEDULED_FOR, Parameter, check_declared
from headrace.domain.pipeline import (
    JOB_TYPES,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    QUERY_TYPES,
    RESERVED_PREFIX,
    Step,
)
from headrace.domain.problems import Loc, Problem


def check_name(value: str, loc: Loc, what: str) -> list[Problem]:
    """Problems with one step or dataset name (empty, too long, not a plain word, reserved)."""
    if not value:
        return [Problem(loc, f"{what} must not be empty", "name.empty")]
    if len(value) > MAX_NAME_LENGTH:
        return [
            Problem(loc, f"{what} is longer than {MAX_NAME_LENGTH} characters", "name.too_long")
        ]
    if not NAME_PATTERN.match(value):
        return [
            Problem(
                loc,
                f"{what} {value!r} may hold only letters, digits, '_' and '-' "
                "and must not start with '-'",
                "name.invalid",
            )
        ]
    if value.lower().startswith(RESERVED_PREFIX):
        return [
            Problem(
                loc,
                f"{what} {value!r}: names starting {RESERVED_PREFIX} are reserved",
                "name.reserved",
            )
        ]
    return []


def validate_steps(steps: Sequence[Step], parameters: Sequence[Parameter] = ()) -> list[Problem]:
    """Every problem of a version's steps (names, datasets, SQL and the graph) and of its
    ``parameters`` (their declarations, and each ``$name`` a step uses is declared)."""
    problems: list[Problem] = check_declared(parameters, ("parameters",))
    declared = frozenset(p.name for p in parameters) | {SCHEDULED_FOR}
    if not steps:
        return [
            *problems,
            Problem(("steps",), "a pipeline needs at least one step", "steps.empty"),
        ]
    seen: dict[str, int] = {}
    writers: dict[str, str] = {}
    for index, step in enumerate(steps):
        where: str | int = step.name if step.name else index
        problems += check_name(step.name, ("steps", index, "name"), "step name")
        if step.name in seen:
            problems.append(
                Problem(
                    ("steps", where, "name"),
                    f"step name {step.name!r} is used more than once",
                    "step.duplicate_name",
                )
            )
        seen.setdefault(step.name, index)
        problems += _check_step(step, where, writers, declared)
    # A cycle is reported alongside every other problem: the graph is built from the first
    # step of each name (later ones are reported as duplicates; the first writer of a dataset
    # wins), so it is well defined whatever else is wrong.
    unique = [step for index, step in enumerate(steps) if seen[step.name] == index]
    cycle = Dag.build(unique).cycle()
    if cycle:
        arrow = " -> ".join([*cycle, cycle[0]])
        problems.append(Problem(("steps",), f"the steps form a cycle: {arrow}", "steps.cycle"))
    return problems


def _check_step(
    step: Step, where: str | int, writers: dict[str, str], declared: frozenset[str]
) -> list[Problem]:
    config = step.config
    loc: Loc = ("steps", where, "config")
    problems: list[Problem] = []
    for field_name, names in (
        ("input_datasets", config.input_datasets),
        ("output_datasets", config.output_datasets),
    ):
        for i, name in enumerate(names):
            problems += check_name(name, (*loc, field_name, i), "dataset name")
        if len(set(names)) != len(names):
            problems.append(
                Problem((*loc, field_name), "a dataset is listed twice", "datasets.duplicate")
            )
    if not config.output_datasets:
        problems.append(
            Problem((*loc, "output_datasets"), "a step needs at least one output", "outputs.empty")
        )
    inputs = set(config.input_datasets)  # sets throughout: a step may list thousands
    for name in config.output_datasets:
        if name in inputs:
            problems.append(
                Problem(
                    (*loc, "output_datasets"),
                    f"dataset {name!r} is both an input and an output of the step",
                    "datasets.self_loop",
                )
            )
        other = writers.setdefault(name, step.name)
        if other != step.name:
            problems.append(
                Problem(
                    (*loc, "output_datasets"),
                    f"dataset {name!r} is already written by step {other!r}",
                    "datasets.two_writers",
                )
            )
    known = True
    for field_name, value, allowed in (
        ("job_type", config.job_type, JOB_TYPES),
        ("query_type", config.query_type, QUERY_TYPES),
    ):
        if value not in allowed:
            known = False
            problems.append(
                Problem(
                    (*loc, field_name),
                    f"{field_name} {value!r} is not known; use {' or '.join(map(repr, allowed))}",
                    f"step.{field_name}",
                )
            )
    if known:  # a query of an unknown type is not SQL to analyse
        problems += _check_query(step, (*loc, "query"), declared)
    problems += validate_checks(config.checks, config.output_datasets, (*loc, "checks"))
    return problems


def _check_query(step: Step, loc: Loc, declared: frozenset[str]) -> list[Problem]:
    config = step.config
    unstorable = check_text(config.query, loc, "the query", None)
    if unstorable:
        return unstorable
    from headrace.domain.sql import analyse  # sqlglot is a heavy import, only needed here

    analysis = analyse(config.query, len(config.output_datasets))
    problems = [Problem(loc, msg, type_) for msg, type_ in analysis.problems]
    for name in sorted(analysis.parameters - declared):
        problems.append(
            Problem(
                loc,
                f"the query uses ${name}, which the version does not declare in parameters",
                "sql.undeclared_parameter",
            )
        )
    inputs = set(config.input_datasets)
    for table in sorted(analysis.reads - inputs):
        problems.append(
            Problem(
                loc,
                f"the query reads {table!r}, which is not one of the step's input_datasets",
                "sql.undeclared_input",
            )
        )
    if len(config.output_datasets) > 1:
        created = Counter(analysis.creates)
        missing = [o for o in config.output_datasets if o not in created]
        for name in missing:
            problems.append(
                Problem(
                    loc,
                    f"the query does not create output {name!r} (CREATE TABLE {name} AS SELECT …)",
                    "sql.output_not_created",
                )
            )
        for name in sorted(n for n, times in created.items() if times > 1):
            problems.append(
                Problem(loc, f"table {name!r} is created more than once", "sql.duplicate_create")
            )
    return problems
