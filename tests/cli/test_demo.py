"""``headrace demo`` (``make demo``) tells a short story on one screen: the data loaded, the
pipeline, its steps, the result rows and the time, then what to do next."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("order_lines", "daily_revenue", "customer_totals", "customer_rank", "region_report")


def test_the_demo_fits_on_one_screen_and_ends_with_the_next_steps(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADRACE_")}
    done = subprocess.run(
        [sys.executable, "-m", "headrace.cli.main", "demo", "--folder", str(folder)],
        cwd=ROOT,  # the example's path is relative to the repository
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    lines = out.splitlines()
    assert len(lines) <= 40, out
    assert '"argo_manifest"' not in out and "{" not in out, out  # no raw API JSON

    # The story, in order.
    marks = ["1. Data", "2. Pipeline", "3. Run", "4. Result", "next steps"]
    assert [out.index(m) for m in marks] == sorted(out.index(m) for m in marks), out
    assert "customers (200 rows), products (50 rows), orders (1,200 rows)" in out
    assert "shop-analytics: 5 SQL steps from examples/shop/pipeline.yaml" in out
    for name in STEPS:
        assert re.search(rf"^\s+{name}\s.*Succeeded\s+[\d,]+\s+\d+\.\d\d s\s*$", out, re.M), name
    assert re.search(r"Succeeded in \d+\.\d\d s", out), out
    result = [line for line in lines if line.startswith("│")]
    assert len(result) == 12, out  # region_report: the top 3 customers of 4 regions
    assert sorted({line.split("│")[1].strip() for line in result}) == [
        "east",
        "north",
        "south",
        "west",
    ]

    # Next steps: a server that stays up, a key, the UI, the pipeline file.
    tail = out[out.index("next steps") :]
    for hint in (
        "make serve",
        "headrace admin create-org",
        "http://127.0.0.1:8000/ui/",
        "sign in with that key",
        "headrace run examples/shop/pipeline.yaml",
    ):
        assert hint in tail, (hint, tail)

    # It said its own server has stopped, and it has.
    port = int(re.search(r"on 127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
