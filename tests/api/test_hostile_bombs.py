"""Hostile client, decompression bombs: a few kB of zstd Parquet holding huge strings is
refused at upload, and a version holding them (written by a step, whose process has its own
cap) is never brought whole into the API process by a preview or a download (issue 21 item
2). Against a live ``headrace serve`` whose memory is measured; the probe's sizes (8 rows of
100 MB) scaled down, with the limits scaled down to match."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import httpx

from tests.api.test_bad_uploads import check_error_shape
from tests.factories import Api, make_pipeline, make_run, make_step
from tests.live import serve
from tests.memory import peak_rss_kib, server_pid

MiB = 1024 * 1024
CELL = 12 * MiB  # each of the 8 strings; distinct, so no dictionary shares them
MEMORY_LIMIT_MIB = 256
HUGE = f"SELECT i, repeat('x', {CELL}) || i::VARCHAR AS s FROM range(8) t(i)"


def _bomb(folder: Path) -> bytes:
    path = folder / "bomb.parquet"
    con = duckdb.connect()
    try:
        con.execute(f"COPY ({HUGE}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()
    return path.read_bytes()


def _wait_succeeded(api: Api, pipeline_id: str, run_id: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = api.get(f"/pipelines/{pipeline_id}/runs/{run_id}/").json()
        if run["status"] in ("Succeeded", "Failed", "Error", "Cancelled"):
            assert run["status"] == "Succeeded", run
            return
        time.sleep(0.1)
    raise AssertionError("the run did not end")


def test_bombs_are_refused_or_read_within_the_servers_memory_cap(tmp_path: Path) -> None:
    bomb = _bomb(tmp_path)
    limits = {
        "HEADRACE_MAX_CELL_BYTES": str(MiB),
        "HEADRACE_MAX_PREVIEW_BYTES": str(4 * MiB),
        "HEADRACE_SERVICE_MEMORY_LIMIT": f"{MEMORY_LIMIT_MIB}MiB",
    }
    with serve(tmp_path / "srv", **limits) as served:
        api = Api(httpx.Client(base_url=served.url, timeout=120), served.new_org_key(), "")
        pid = server_pid(served.url)
        # an honest dataset, and the bomb's step, first: what is measured is the reading
        r = api.post(
            "/datasets/", data={"name": "small"}, files={"file": ("s.csv", b"a,b\n1,x\n2,y\n")}
        )
        assert r.status_code == 201, r.text
        small = r.json()["id"]
        pipeline = make_pipeline(api, [make_step("huge", HUGE, [], ["huge"])])
        _wait_succeeded(api, pipeline["id"], make_run(api, pipeline["id"])["id"])
        huge = next(d["id"] for d in api.get("/datasets/").json() if d["name"] == "huge")
        assert api.get(f"/datasets/{small}/rows/").json() == [
            {"a": 1, "b": "x"},
            {"a": 2, "b": "y"},
        ]
        baseline = peak_rss_kib(pid)

        r = api.post("/datasets/", data={"name": "bomb"}, files={"file": ("b.parquet", bomb)})
        body = check_error_shape(r, 422)
        assert [e["loc"] for e in body["errors"]] == [["body", "file", "s"]], body
        assert body["errors"][0]["type"] == "cell.too_large"

        viewer = api.with_role("viewer")
        for params in ({}, {"limit": 1}):
            r = viewer.get(f"/datasets/{huge}/rows/", params=params)
            assert "fewer rows" in check_error_shape(r, 413)["detail"], r.text
        stages = [("upload 422, preview 413", peak_rss_kib(pid))]
        for fmt in ("csv", "parquet"):
            r = viewer.get(f"/datasets/{huge}/download/", params={"format": fmt})
            assert r.status_code in (200, 413), r.text[:300]
            if r.status_code == 413:
                check_error_shape(r, 413)
            stages.append((f"{fmt} {r.status_code}", peak_rss_kib(pid)))
        growth = (peak_rss_kib(pid) - baseline) / 1024
        print(
            f"\n8 x {CELL // MiB} MiB strings ({len(bomb)} bytes of zstd Parquet), DuckDB "
            f"capped at {MEMORY_LIMIT_MIB} MiB: server peak RSS over the honest work after "
            + ", ".join(f"{n}: +{(k - baseline) // 1024} MiB" for n, k in stages)
        )
        # DuckDB holds to its cap (plus its own bookkeeping); nothing is copied into Python.
        assert growth < MEMORY_LIMIT_MIB + 64
        assert api.get(f"/datasets/{small}/rows/").status_code == 200
