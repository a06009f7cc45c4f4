"""``headrace run`` in a new interpreter, for tests of what a run imports (the test process
has DuckDB loaded long since)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import sys
from typer.testing import CliRunner
from headrace.cli.main import app
result = CliRunner().invoke(app, ["run", sys.argv[1]])
print(result.output)
heavy = {"duckdb": "_duckdb", "sqlglot": "sqlglot", "pyarrow": "pyarrow", "deltalake": "deltalake"}
print("exit", result.exit_code, "loaded", [n for n, m in heavy.items() if m in sys.modules])
"""


def fresh_run(path: Path, data: Path) -> str:
    """The output of ``headrace run path`` on ``data``, ending with a line ``exit <code>
    loaded <list>``: which of DuckDB, the SQL parser, pyarrow and deltalake it imported."""
    env = {**os.environ, "HEADRACE_DATA_DIR": str(data), "HEADRACE_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(path)],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
