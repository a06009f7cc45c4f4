"""``headrace demo`` (``make demo``): the whole product once, over real HTTP.

Starts ``headrace serve`` on the embedded default in a fresh folder, creates an organisation
with ``headrace admin create-org``, uploads the example's CSV files, creates the example
pipeline, runs it, prints what ``GET /pipelines/{id}/runs/`` returns and a few rows of the
final output, then stops the server.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from headrace.cli.pipeline_file import PipelineFile, load

# Wide enough for the result table when the output is not a terminal (make demo in CI, a pipe).
console = Console(width=None if sys.stdout.isatty() else 150)
EXAMPLE = Path("examples/shop/pipeline.yaml")
TERMINAL = {"Succeeded", "Failed", "Error", "Cancelled"}


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
        request = response.request
        raise RuntimeError(
            f"{request.method} {request.url.path}: {response.status_code} {response.text}"
        )
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
    console.print(f"data folder: {folder.resolve()} (SQLite metadata, Delta warehouse)")
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            _headrace("serve", "--port", str(port)), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_healthy(client, server)
            console.print(f"server: http://127.0.0.1:{port} (docs at /docs, log in {log_path})")
            org = json.loads(
                subprocess.run(
                    _headrace("admin", "create-org", "demo", "--json"),
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            console.print(f"organisation {org['org_id']}, admin key: [bold]{org['api_key']}[/bold]")
            client.headers["Authorization"] = f"Bearer {org['api_key']}"
            run = _run_example(client, file)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0 if run["status"] == "Succeeded" else 1


def _run_example(client: httpx.Client, file: PipelineFile) -> dict[str, Any]:
    """Upload the sources, create the pipeline, run it to the end and show the results."""
    for name, path in file.sources.items():
        with path.open("rb") as f:
            upload = {"file": (path.name, f, "text/csv")}
            dataset = _check(client.post("/datasets/", data={"name": name}, files=upload))
        console.print(f"uploaded {name}: {dataset.get('row_count')} rows")
    body = {"name": file.name, "description": file.description, "steps": file.step_bodies}
    pipeline = _check(client.post("/pipelines/", json=body))
    runs_url = f"/pipelines/{pipeline['id']}/runs/"
    console.print(f"pipeline {pipeline['name']} ({pipeline['id']}): {len(file.steps)} steps")
    started = time.perf_counter()
    run: dict[str, Any] = _check(client.post(runs_url, json={}))
    while run["status"] not in TERMINAL:
        time.sleep(0.05)
        run = _check(client.get(f"{runs_url}{run['id']}/"))
    elapsed = time.perf_counter() - started
    console.rule(f"GET {runs_url}")
    console.print_json(json.dumps(_check(client.get(runs_url))))
    console.rule("run")
    for step in run["run_steps"]:
        console.print(
            f"  {step['name']:<16} {step['status']:<10} {step.get('rows_written')} rows  "
            f"{step.get('error') or ''}"
        )
    console.print(
        f"run {run['name']}: [bold]{run['status']}[/bold], trigger to end {elapsed:.2f} s"
    )
    if run["status"] == "Succeeded":
        _print_rows(client, file.steps[-1].name, file.steps[-1].config.output_datasets[0])
    return run


def _print_rows(client: httpx.Client, step: str, dataset_name: str) -> None:
    listing = _check(client.get("/datasets/", params={"limit": 1000}))
    dataset = next(d for d in listing if d["name"] == dataset_name)
    rows = _check(client.get(f"/datasets/{dataset['id']}/rows/", params={"limit": 12}))
    table = Table(title=f"{dataset_name} (written by step {step}), first rows")
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    console.print(table)
