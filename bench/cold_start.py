"""Issue 7 target 1: whole ``headrace`` processes, cold start included.

- ``headrace --help`` against a bare interpreter start (``python -c pass``);
- ``headrace run examples/shop/pipeline.yaml`` (five steps on about 1,000 rows) on a data
  folder that already holds the pipeline and its sources, as a user re-running it does,
  against a fresh ``python`` process running the same five statements on the same CSV files
  with raw DuckDB, each written to Parquet. The first run on an empty folder (migrations,
  source loading, pipeline creation) is reported on its own.

Both are also reported in CPU seconds of the whole process tree (``headrace run``'s step
processes included): on a shared machine wall time moves with the others' load, CPU much less.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.server import HEADRACE, environment
from bench.stats import Figure, Target

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shop" / "pipeline.yaml"


def raw_script(out: Path, pipeline: Path = EXAMPLE, reader: str = "read_csv") -> str:
    """A self-contained script doing the pipeline's work with raw DuckDB, its sources read
    with ``reader`` and each step's output written to Parquet in ``out``."""
    from headrace.cli.pipeline_file import load

    file = load(pipeline)
    lines = ["import duckdb", "con = duckdb.connect()"]
    for name, path in file.sources.items():
        lines.append(f"con.execute(\"CREATE VIEW {name} AS SELECT * FROM {reader}('{path}')\")")
    for step in file.steps:
        target = out / f"{step.config.output_datasets[0]}.parquet"
        lines.append(f"con.execute({f'COPY ({step.config.query}) TO {str(target)!r}'!r})")
        lines.append(
            f'con.execute("CREATE VIEW {step.config.output_datasets[0]} AS '
            f"SELECT * FROM read_parquet('{target}')\")"
        )
    return "\n".join(lines)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall time, and CPU time of the process and of every process it waited for."""
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start, _children_cpu() - cpu


def measure(quick: bool) -> dict[str, Any]:
    repeat = 3 if quick else 10
    with tempfile.TemporaryDirectory(prefix="headrace-bench-cold-") as tmp:
        folder = Path(tmp)
        env = environment(folder / "data", None)
        env["COLUMNS"] = "120"
        bare = [sys.executable, "-c", "pass"]
        help_cmd = [HEADRACE, "--help"]
        run_cmd = [HEADRACE, "run", str(EXAMPLE)]
        raw_cmd = [sys.executable, "-c", raw_script(folder)]
        timed(help_cmd, env, folder)  # writes any missing .pyc, as installing would
        first, _ = timed(run_cmd, env, folder)
        commands = {"bare": bare, "help": help_cmd, "raw": raw_cmd, "run": run_cmd}
        samples: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):  # interleaved, so a burst of load hits every kind alike
            for name, command in commands.items():
                wall, used = timed(command, env, folder)
                samples[name].append(wall)
                cpu[name].append(used)
    bare_f = Figure("python -c pass", samples["bare"])
    raw_f = Figure("raw DuckDB process, same 5 statements", samples["raw"])
    raw_cpu = Figure("raw DuckDB process, CPU", cpu["raw"])
    return {
        "title": "1. tiny pipeline, whole process (cold start included)",
        "figures": [
            bare_f.as_dict(None),
            Figure("headrace --help", samples["help"], target=Target("median", 0.3)).as_dict(
                bare_f
            ),
            raw_f.as_dict(None),
            Figure(
                "headrace run shop (5 steps)", samples["run"], target=Target("median", 0.8)
            ).as_dict(raw_f),
            Figure("headrace run, first on an empty folder", [first]).as_dict(raw_f),
            raw_cpu.as_dict(None),
            Figure("headrace run, CPU of its processes", cpu["run"]).as_dict(raw_cpu),
        ],
    }
