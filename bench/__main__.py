"""``make bench``: every target of issue 7, one table on the terminal and JSON in bench/results/.

``python -m bench`` runs the full suite (about 10 minutes on a quiet 2-core machine);
``--quick`` runs small sizes and few repeats (1-2 minutes); ``--only`` picks sections.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import (
    bigger,
    checks,
    cold_start,
    history,
    idempotency,
    listing,
    memory,
    pipeline,
    reuse,
    saving,
    schedules,
    size,
    sources,
    throughput,
    warm_server,
    webhooks,
)

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "cold": cold_start.measure,
    "warm": warm_server.measure,
    "data": pipeline.measure,
    "listing": listing.measure,
    "throughput": throughput.measure,
    "size": size.measure,
    "memory": memory.measure,
    "history": history.measure,
    "sources": sources.measure,
    "idempotency": idempotency.measure,
    "reuse": reuse.measure,
    "schedules": schedules.measure,
    "webhooks": webhooks.measure,
    "saving": saving.measure,
    "checks": checks.measure,
    "bigger": bigger.measure,
}
# Sections only ``--only`` runs: they take many minutes and gigabytes of disk.
ON_REQUEST = {"bigger"}


def _value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s"
    if unit in ("ms", "us", "MB", "req/s", "runs/s"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f} {unit}"


def _table(title: str, figures: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("figure", "median", "min", "max", "p95", "runs", "ratio", "target"):
        table.add_column(column, justify="left" if column in ("figure", "target") else "right")
    for f in figures:
        shown = [_value(f[k], f["unit"]) for k in ("median", "min", "max", "p95")]
        ratio = f"{f['ratio']:.2f}x" if "ratio" in f else "baseline" if "target" not in f else ""
        verdict = ""
        if "target" in f:
            verdict = f"{f['target']}: " + ("[green]met[/]" if f["met"] else "[red]missed[/]")
        table.add_row(f["name"], *shown, str(f["runs"]), ratio, verdict)
    return table


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _cpu_pressure() -> str:
    """The share of the last 10 s in which some task waited for a CPU (Linux PSI): on a
    shared VM it shows neighbours the load average does not."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    fields = dict(part.split("=") for part in first.split()[1:])
    return f"{fields.get('avg10', '?')} %"


def _python_speed_ms() -> float:
    """Milliseconds of a fixed pure-Python loop (median of 5): absolute figures of two bench
    runs compare only when this does (the same code measured 1.2 vs 2.1 s for target 1 on
    two days whose loop times differed about as much)."""
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), help="these sections")
    args = parser.parse_args()
    console = Console(width=max(160, Console().width))
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "python_loop_ms": _python_speed_ms(),
        "sections": [],
    }
    console.print(
        f"[dim]machine: {report['cpus']} CPUs; 1,000,000-step Python loop "
        f"{report['python_loop_ms']:.0f} ms; CPU pressure {_cpu_pressure()}[/dim]\n"
    )
    for name in args.only or [s for s in SECTIONS if s not in ON_REQUEST]:
        load_before, pressure_before = _load(), _cpu_pressure()
        started = time.perf_counter()
        section = SECTIONS[name](args.quick)
        section |= {
            "seconds": time.perf_counter() - started,
            "load_before": load_before,
            "load_after": _load(),
            "cpu_pressure_before": pressure_before,
            "cpu_pressure_after": _cpu_pressure(),
        }
        report["sections"].append(section)
        console.print(_table(section["title"], section["figures"]))
        console.print(
            f"[dim]{section['seconds']:.0f} s; load average (1/5/15 min) "
            f"{load_before} before, {section['load_after']} after; CPU pressure "
            f"{pressure_before} before, {section['cpu_pressure_after']} after[/dim]\n"
        )
    RESULTS.mkdir(exist_ok=True)
    body = json.dumps(report, indent=2)
    (RESULTS / "latest.json").write_text(body)
    (RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(body)
    console.print(f"written to {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
