"""``headrace init [DIR]``: a project that ``headrace run`` runs at once, laid out as dbt and
SQLMesh projects are: the pipeline file, one step's SQL in ``sql/``, a small CSV source in
``data/``, and the JSON Schema the pipeline file's first line points editors at."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

SCHEMA_PATH = "schemas/pipeline-file.schema.json"

PIPELINE = """\
# yaml-language-server: $schema={schema}
# Run it with `headrace run {pipeline}` (no server needed); see the README of headrace.
name: {name}
description: Orders per customer, and each customer's share of the revenue.
sources:
  orders: data/orders.csv  # loaded as the dataset `orders` whenever the file changes
steps:
  # SQL in a file of the project; the datasets it reads (here `orders`) are its inputs
  - name: customer_totals
    config:
      query_file: sql/customer_totals.sql
      output_datasets: [customer_totals]
  # or inline
  - name: customer_share
    config:
      query: |
        SELECT customer, orders, revenue,
               round(100 * revenue / sum(revenue) OVER (), 1) AS pct_of_revenue
        FROM customer_totals
        ORDER BY revenue DESC
      output_datasets: [customer_share]
"""

CUSTOMER_TOTALS = """\
SELECT customer,
       count(*) AS orders,
       CAST(sum(quantity * unit_price) AS DECIMAL(12, 2)) AS revenue
FROM orders
GROUP BY customer
"""

ORDERS = """\
order_id,customer,quantity,unit_price
1,ada,2,9.50
2,bob,1,120.00
3,ada,5,3.20
4,cy,3,15.00
5,bob,2,7.25
"""

GITIGNORE = """\
# what `headrace run` keeps here: the metadata store and the datasets' Delta tables
.headrace/
"""


def _pipeline_name(folder: Path) -> str:
    """A pipeline name from the folder's: plain words, digits, ``_`` and ``-``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", folder.resolve().name).strip("-_")
    return name or "pipeline"


def files(folder: Path) -> dict[Path, str]:
    """What ``init`` writes, by path."""
    from headrace.cli.schema import pipeline_file_schema_text

    pipeline = folder / "pipeline.yaml"
    return {
        pipeline: PIPELINE.format(
            schema=SCHEMA_PATH, pipeline=pipeline, name=_pipeline_name(folder)
        ),
        folder / "sql" / "customer_totals.sql": CUSTOMER_TOTALS,
        folder / "data" / "orders.csv": ORDERS,
        folder / SCHEMA_PATH: pipeline_file_schema_text(),
        folder / ".gitignore": GITIGNORE,
    }


def init(
    folder: Annotated[
        Path, typer.Argument(help="Folder of the new project (made if missing).")
    ] = Path("."),
) -> None:
    """Start a pipeline project: a pipeline file, its SQL, a sample source and the file's
    JSON Schema; `headrace run DIR/pipeline.yaml` runs it at once. Nothing is overwritten."""
    made = files(folder)
    present = [path for path in made if path.exists()]
    if present:
        listed = ", ".join(str(path) for path in present)
        typer.echo(f"error: {listed} exist(s) already; nothing was written", err=True)
        raise typer.Exit(2)
    for path, text in made.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        typer.echo(f"wrote {path}")
    typer.echo(f"next: headrace run {folder / 'pipeline.yaml'}")
