"""``make bench``: every benchmark, one table on the terminal and JSON in bench/results/."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import argo_manifest, pipeline

RESULTS = Path(__file__).resolve().parent / "results"


def _value(value: float, unit: str) -> str:
    return f"{value:.3f} s" if unit == "s" else f"{value:.0f} {unit}"


def _table(title: str, figures: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("figure", "median", "min", "max", "runs", "ratio to baseline"):
        table.add_column(column, justify="right" if column != "figure" else "left")
    for f in figures:
        shown = [_value(f[k], f["unit"]) for k in ("median", "min", "max")]
        ratio = f"{f['ratio']:.2f}x {f['baseline']}" if "ratio" in f else "baseline"
        table.add_row(f["name"], *shown, str(f["runs"]), ratio)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000, help="orders in the large run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    args = parser.parse_args()
    console = Console()
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for label, rows in (("tiny", 1_200), ("large", args.rows)):
        result = pipeline.measure(rows, args.repeat)
        report[label] = result
        console.print(_table(f"example pipeline, {rows:,} orders", result["figures"]))
    argo = argo_manifest.measure(args.repeat)
    report["argo_manifest"] = argo
    console.print(_table("Argo manifest, 100 / 1,000 / 10,000 steps", argo["figures"]))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    console.print(f"written to {out}")


if __name__ == "__main__":
    main()
