"""Column lineage of a pipeline version: for every output column of every step, the input
columns it is computed from, with sqlglot's lineage over the known schemas.

Pure: it takes the version's steps, the columns of the datasets they read from outside the
version, and the output columns binding inferred when the version was saved
(``output_schemas``), and returns edges ``{from: {dataset, column}, to: {dataset, column},
step}``. Edges are per step, so following them upstream crosses the whole pipeline; the
OpenLineage ``columnLineage`` facet of a step's output is the same edges grouped by output
column. A step whose SQL sqlglot cannot follow (or whose output columns are not known) has no
edges rather than wrong ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from headrace.domain.pipeline import Step

Edge = dict[str, Any]  # {"from": {dataset, column}, "to": {dataset, column}, "step": name}


def step_lineage(
    step: Step,
    columns: Mapping[str, Sequence[str]],
    outputs: Mapping[str, Sequence[str]],
) -> list[Edge]:
    """The edges of one step: ``columns`` are the columns of each dataset it reads,
    ``outputs`` the columns of each dataset it writes."""
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope

    from headrace.domain.sql import parse

    schema: dict[str, object] = {
        name: {c: "UNKNOWN" for c in cols} for name, cols in columns.items()
    }
    try:
        statements = [s for s in parse(step.config.query) if s is not None]
    except (SqlglotError, TypeError):
        return []
    bodies: list[tuple[str, exp.Expr]] = []  # (output dataset, its SELECT)
    if len(step.config.output_datasets) == 1 and len(statements) == 1:
        bodies.append((step.config.output_datasets[0], statements[0]))
    else:
        for statement in statements:
            if isinstance(statement, exp.Create) and isinstance(statement.expression, exp.Query):
                bodies.append((statement.this.name, statement.expression))
    edges: list[Edge] = []
    for dataset, body in bodies:
        try:
            qualified = qualify(
                body.copy(), schema=schema, dialect="duckdb", validate_qualify_columns=False
            )
            scope = build_scope(qualified)
        except (SqlglotError, AssertionError, KeyError):
            scope = None
        if scope is None:
            continue
        for column in outputs.get(dataset, ()):
            seen: set[tuple[str, str]] = set()
            try:
                node = lineage(
                    column, qualified, schema=schema, dialect="duckdb", scope=scope, copy=False
                )
            except (SqlglotError, AssertionError, KeyError, ValueError):
                continue
            for leaf in node.walk():
                if leaf.downstream or not isinstance(leaf.source, exp.Table):
                    continue
                source = leaf.source.name
                if not source or source not in schema:
                    continue  # a table function (range(), unnest): no dataset behind it
                named = leaf.expression
                name = named.name if isinstance(named, exp.Column) else leaf.name.split(".")[-1]
                key = (source, name.strip('"'))
                if key not in seen:
                    seen.add(key)
                    edges.append(
                        {
                            "from": {"dataset": key[0], "column": key[1]},
                            "to": {"dataset": dataset, "column": column},
                            "step": step.name,
                        }
                    )
        # a later statement of a script may read the table an earlier one created
        schema[dataset] = {c: "UNKNOWN" for c in outputs.get(dataset, ())}
    return edges


def version_lineage(
    steps: Sequence[Step],
    existing: Mapping[str, Sequence[str]],
    output_schemas: Mapping[str, Mapping[str, Sequence[Mapping[str, str]]]],
) -> dict[str, list[Edge]]:
    """The edges of every step of a version, by step name: ``existing`` are the columns of
    the datasets it reads from outside, ``output_schemas`` the version's stored
    ``{step: {dataset: [{name, type}]}}``."""
    known: dict[str, list[str]] = {name: list(cols) for name, cols in existing.items()}
    for written in output_schemas.values():
        for dataset, cols in written.items():
            known[dataset] = [c["name"] for c in cols]
    found: dict[str, list[Edge]] = {}
    for step in steps:
        outputs: dict[str, Sequence[str]] = {
            d: known.get(d, []) for d in step.config.output_datasets
        }
        inputs: dict[str, Sequence[str]] = {
            d: known[d] for d in step.config.input_datasets if d in known
        }
        found[step.name] = (
            step_lineage(step, inputs, outputs) if step.name in output_schemas else []
        )
    return found


def column_lineage_facets(edges: Sequence[Edge], namespace: str) -> dict[str, dict[str, Any]]:
    """OpenLineage ``columnLineage`` facet fields of each output dataset of ``edges``:
    ``{dataset: {"fields": {column: {"inputFields": [{namespace, name, field}]}}}}``."""
    facets: dict[str, dict[str, Any]] = {}
    for edge in edges:
        to, source = edge["to"], edge["from"]
        fields = facets.setdefault(to["dataset"], {"fields": {}})["fields"]
        entry = fields.setdefault(to["column"], {"inputFields": []})
        entry["inputFields"].append(
            {"namespace": namespace, "name": source["dataset"], "field": source["column"]}
        )
    return facets
