"""A step's fingerprint: what decides the result it computes, so that an earlier run's result
of the same fingerprint can be reused instead of computed again (API.md, "Reuse").

Two parts. The *recipe* depends on the step alone: its SQL as a normalised syntax tree
(whitespace, comments and keyword case do not change it; a literal does), the rest of its
config in canonical JSON (its checks included, whatever fields a config gains, so a new
field changes the fingerprint without anyone remembering to add it here), and the names of
the run parameters its SQL refers to (``$name``). The *fingerprint* adds what a run decides:
the exact version of every input (by dataset id, so a dataset deleted and made again under
the same name is another one), the dataset each output goes to, the values of the
parameters the SQL uses (only those: a run parameter the step does not use changes nothing),
and the engine (DuckDB's version and ``ENGINE``, which headrace bumps when a change of its
own changes what a step computes).

SQL whose result is not a function of its inputs is never reused: a call of one of
``NONDETERMINISTIC`` (random numbers, UUIDs, the clock, sequences) or a sample without a seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headrace.domain.pipeline import StepConfig

# Bumped when headrace changes what a step with the same SQL and inputs writes.
ENGINE = "headrace-step-1"

# Functions whose result is not decided by their arguments: randomness, UUIDs, the clock and
# the transaction's time, sequences and the ids of the connection or query.
NONDETERMINISTIC = frozenset(
    {
        "random",
        "rand",
        "setseed",
        "uuid",
        "gen_random_uuid",
        "uuidv4",
        "uuidv7",
        "now",
        "today",
        "current_date",
        "current_time",
        "current_timestamp",
        "current_localtime",
        "current_localtimestamp",
        "get_current_time",
        "get_current_timestamp",
        "localtime",
        "localtimestamp",
        "transaction_timestamp",
        "nextval",
        "currval",
        "txid_current",
        "current_connection_id",
        "current_query_id",
        "current_transaction_id",
    }
)

# The config's fields that do not change what the step computes: the query enters as its
# normalised tree, and ``cache`` only says whether to look for an earlier result.
_NOT_IN_CONFIG = frozenset({"query", "cache"})


@dataclass(frozen=True)
class Recipe:
    """What of a step decides its result apart from its run: ``key`` (the normalised SQL and
    config, hashed) and ``parameters`` (the run parameters its SQL uses); or ``refusal``, why
    its result is never reused."""

    key: str | None
    parameters: tuple[str, ...] = ()
    refusal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "parameters": list(self.parameters), "refusal": self.refusal}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Recipe:
        return cls(d["key"], tuple(d["parameters"]), d["refusal"])


def _function_names(node: object) -> set[str]:
    from sqlglot import exp

    assert isinstance(node, exp.Func)
    if isinstance(node, exp.Anonymous):
        return {str(node.name).lower()}
    kind = type(node)
    return {kind.key.lower(), *(n.lower() for n in kind.sql_names())}


def recipe(config: StepConfig) -> Recipe:
    """The step's recipe; a refusal for ``cache: false``, SQL that does not parse or SQL
    that is not a function of its inputs."""
    if not config.cache:
        return Recipe(None, refusal="cache: false on the step")
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    from headrace.domain.sql import parse

    try:
        trees = [t for t in parse(config.query) if t is not None]
    except (SqlglotError, TypeError):
        return Recipe(None, refusal="its SQL cannot be read")
    used: set[str] = set()
    for tree in trees:
        for node in tree.walk():
            if isinstance(node, exp.Func):
                called = _function_names(node) & NONDETERMINISTIC
                if called:
                    name = min(called)
                    return Recipe(None, refusal=f"its SQL calls {name}(), which is not repeatable")
            elif isinstance(node, exp.TableSample) and node.args.get("seed") is None:
                return Recipe(None, refusal="its SQL samples rows without a seed")
            elif isinstance(node, exp.Placeholder) and node.name:
                used.add(str(node.name))
    sql = ";".join(t.sql(dialect="duckdb", comments=False) for t in trees)
    rest = {k: v for k, v in config.to_dict().items() if k not in _NOT_IN_CONFIG}
    key = _digest({"sql": sql, "config": rest, "parameters": sorted(used)})
    return Recipe(key, parameters=tuple(sorted(used)))


def fingerprint(
    made: Recipe,
    *,
    inputs: Mapping[str, tuple[str, int]],
    outputs: Mapping[str, str],
    parameters: Mapping[str, object],
    engine: str,
) -> str | None:
    """The step's fingerprint in a run: its recipe, the (dataset id, version) each input is
    read at, the dataset id of each output, the values of the parameters it uses (of the
    run's ``parameters``) and the ``engine``. None when its result is never reused."""
    if made.key is None:
        return None
    return _digest(
        {
            "recipe": made.key,
            "inputs": {name: [str(i), int(v)] for name, (i, v) in inputs.items()},
            "outputs": {name: str(i) for name, i in outputs.items()},
            "parameters": {name: parameters.get(name) for name in made.parameters},
            "engine": engine,
        }
    )


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
