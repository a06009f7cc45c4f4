"""``headrace demo`` (``make demo``): the whole product once, over real HTTP, told as a short
story that fits on one screen.

Starts ``headrace serve`` on the embedded default in a fresh folder, creates an organisation
with ``headrace admin create-org``, uploads the example's CSV files, creates the example
pipeline, runs it while a table shows each step live, prints the last step's rows and the
time, stops the server, and ends with what to do next (a server that stays up, a key, the
UI, the pipeline file). The full API answers are in the server's log and at ``/docs``, not
here: a first look should show the result, not 400 lines of JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from headrace.cli.pipeline_file import PipelineFile, load

# Wide enough for the result table when the output is not a terminal (make demo in CI, a pipe).
console = Console(width=None if sys.stdout.isatty() else 120)
EXAMPLE = Path("examples/shop/pipeline.yaml")
TERMINAL = {"Succeeded", "Failed", "Error", "Cancelled"}
RESULT_ROWS = 12
SERVE_URL = "http://127.0.0.1:8000"  # what `make serve` listens on


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _headrace(*args: str) -> list[str]:
    return [sys.executable, "-m", "headrace.cli.main", *args]


def _wait_healthy(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy within 30 s")


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        from headrace.client import HeadraceApiError

        request = response.request
        problem = HeadraceApiError.of(response)
        raise RuntimeError(f"{request.method} {request.url.path}: {problem}")
    return response.json()


def run_demo(folder: Path, example: Path = EXAMPLE) -> int:
    if not example.exists():
        console.print(f"[red]error:[/red] {example} not found; run it from the repository root")
        return 2
    file = load(example)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = {**os.environ, "HEADRACE_DATA_DIR": str(folder.resolve())}
    env.pop("HEADRACE_DATABASE_URL", None)
    env.pop("HEADRACE_WAREHOUSE", None)
    port = _free_port()
    log_path = folder / "server.log"
    console.rule("headrace demo")
    console.print(
        f"A server of its own on 127.0.0.1:{port}, data in {folder}/ (SQLite + Delta tables)"
    )
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            _headrace("serve", "--port", str(port)), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_healthy(client, server)
            org = json.loads(
                subprocess.run(
                    _headrace("admin", "create-org", "demo", "--json"),
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            client.headers["Authorization"] = f"Bearer {org['api_key']}"
            run = _run_example(client, file)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    _next_steps(file.path, folder)
    return 0 if run["status"] == "Succeeded" else 1


def _run_example(client: httpx.Client, file: PipelineFile) -> dict[str, Any]:
    """Upload the sources, create the pipeline, run it with a live step table, show the rows."""
    loaded = []
    for name, path in file.sources.items():
        with path.open("rb") as f:
            upload = {"file": (path.name, f, "text/csv")}
            dataset = _check(client.post("/datasets/", data={"name": name}, files=upload))
        loaded.append(f"{name} ({dataset.get('row_count'):,} rows)")
    console.print(f"[bold]1. Data[/bold]      uploaded {', '.join(loaded)}")
    body = {"name": file.name, "description": file.description, "steps": file.step_bodies}
    pipeline = _check(client.post("/pipelines/", json=body))
    console.print(
        f"[bold]2. Pipeline[/bold]  {pipeline['name']}: {len(file.steps)} SQL steps from "
        f"{_shown(file.path)}"
    )
    console.print("[bold]3. Run[/bold]")
    runs_url = f"/pipelines/{pipeline['id']}/runs/"
    started = time.perf_counter()
    run: dict[str, Any] = _check(client.post(runs_url, json={}))
    reads = {s.name: s.config.input_datasets for s in file.steps}
    # A terminal sees the table change as the steps run; a pipe or a log gets it once, done.
    with Live(
        _steps_table(run, reads), console=console, refresh_per_second=8, transient=True
    ) as live:
        while run["status"] not in TERMINAL:
            time.sleep(0.1)
            run = _check(client.get(f"{runs_url}{run['id']}/"))
            live.update(_steps_table(run, reads))
    console.print(_steps_table(run, reads))
    elapsed = time.perf_counter() - started
    style = "green" if run["status"] == "Succeeded" else "red"
    console.print(
        f"   run {run['name']}: [bold {style}]{run['status']}[/bold {style}] "
        f"in {elapsed:.2f} s from start to the last step's end"
    )
    if run["status"] == "Succeeded":
        last = file.steps[-1]
        _print_rows(client, last.name, last.config.output_datasets[0])
    return run


def _seconds(step: dict[str, Any]) -> str:
    if not step.get("started_at"):
        return ""
    start = dt.datetime.fromisoformat(step["started_at"])
    end = dt.datetime.fromisoformat(step["finished_at"]) if step.get("finished_at") else None
    return f"{((end or dt.datetime.now(dt.UTC)) - start).total_seconds():.2f} s"


def _steps_table(run: dict[str, Any], reads: Mapping[str, Sequence[str]]) -> Padding:
    table = Table(box=None, padding=(0, 2), pad_edge=False, show_edge=False)
    for column in ("step", "reads", "status"):
        table.add_column(column)
    table.add_column("rows", justify="right")
    table.add_column("time", justify="right")
    for step in run["run_steps"]:
        status = step["status"]
        colour = {"Succeeded": "green", "Running": "yellow"}.get(status, "red")
        if status in ("Pending", "Omitted", "Skipped"):
            colour = "dim"
        rows = step.get("rows_written")
        table.add_row(
            step["name"],
            ", ".join(reads.get(step["name"], [])),
            Text(status, style=colour),
            "" if rows is None else f"{rows:,}",
            _seconds(step),
        )
        if step.get("error"):
            table.add_row("", Text(step["error"].splitlines()[0][:200], style="red"))
    return Padding(table, (0, 0, 0, 3), expand=False)


def _print_rows(client: httpx.Client, step: str, dataset_name: str) -> None:
    listing = _check(client.get("/datasets/", params={"limit": 1000}))
    dataset = next(d for d in listing if d["name"] == dataset_name)
    rows = _check(client.get(f"/datasets/{dataset['id']}/rows/", params={"limit": RESULT_ROWS}))
    total = dataset.get("row_count") or len(rows)
    shown = f"all {total}" if total <= len(rows) else f"the first {len(rows)} of {total:,}"
    console.print(
        f"[bold]4. Result[/bold]    {dataset_name}, written by step {step} ({shown} rows)"
    )
    table = Table()
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    console.print(table)


def _shown(path: Path) -> str:
    """The path relative to the current folder when it is below it (as the user typed it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _next_steps(pipeline_file: Path, folder: Path) -> None:
    console.rule("next steps")
    example = _shown(pipeline_file)
    console.print(
        Group(
            f"The demo's server has stopped (its data stays in {folder}/). To keep one running:",
            f"  [bold]make serve[/bold]                 API and UI on {SERVE_URL}, "
            "data in .headrace/",
            "  [bold].venv/bin/headrace admin create-org my-team[/bold]"
            "   (another terminal) prints an API key, once",
            f"  open [bold]{SERVE_URL}/ui/[/bold] and sign in with that key; the API is at /docs",
            f"The pipeline is [bold]{example}[/bold]: edit its SQL, then",
            f"  [bold].venv/bin/headrace run {example}[/bold]   runs it with no server",
        )
    )
