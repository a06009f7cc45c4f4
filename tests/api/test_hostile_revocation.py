"""Hostile client, revocation: a revoked key stops working at once in every API process of
``headrace serve --workers 2``, not only in the one that revoked it (issue 21 item 6)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.reliability.processes import Installation

# API.md: a revoked key stops working "at once"; every process must refuse it within this.
BOUND_SECONDS = 1.0


def test_a_revoked_key_is_refused_by_every_api_process_within_a_second(tmp_path: Path) -> None:
    """Keys are kept for an hour here, so before the fix the process that did not revoke
    answered 200 for that long. Each request opens a connection of its own, which the kernel
    gives to either process."""
    installation = Installation(tmp_path, f"sqlite:///{tmp_path / 'serve.db'}")
    installation.migrate()
    try:
        server = installation.start_server(
            HEADRACE_SERVE_PROCESSES="2", HEADRACE_KEY_CACHE_SECONDS="3600"
        )
        admin = server.api(*installation.new_org())
        made = admin.post("/api-keys/", json={"name": "leaving", "role": "viewer"})
        assert made.status_code == 201, made.text
        victim = {"Authorization": f"Bearer {made.json()['api_key']}"}

        def status() -> int:
            return httpx.get(f"{server.url}/pipelines/", headers=victim, timeout=30).status_code

        assert [status() for _ in range(40)] == [200] * 40  # kept by both processes
        assert admin.delete(f"/api-keys/{made.json()['id']}/").status_code == 204
        revoked = time.monotonic()
        answers: list[tuple[float, int]] = []
        while (since := time.monotonic() - revoked) < 3 * BOUND_SECONDS:
            answers.append((since, status()))
        late = [(round(t, 2), s) for t, s in answers if t >= BOUND_SECONDS and s != 401]
        last_200 = max((t for t, s in answers if s == 200), default=0.0)
        print(
            f"\nrevoked key, {len(answers)} requests in {3 * BOUND_SECONDS:.0f} s after the "
            f"DELETE: {sum(s == 200 for _, s in answers)} got 200, the last "
            f"{last_200 * 1000:.0f} ms after it"
        )
        assert not late, late
        assert all(s in (200, 401) for _, s in answers), answers
    finally:
        installation.stop_everything()
