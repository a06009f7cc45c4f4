"""Rendered manifests against golden YAML files in tests/execution/argo/golden/.

A change to the manifest shows up as a diff of these files in review. Regenerate them on
purpose with ``HEADRACE_REGENERATE_GOLDEN=1 pytest tests/execution/argo/test_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.execution.argo.manifests import CASES, render_case

GOLDEN = Path(__file__).parent / "golden"


def _dump(manifest: object) -> str:
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, width=100)


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_matches_golden_file(case: str) -> None:
    rendered = _dump(render_case(case))
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("HEADRACE_REGENERATE_GOLDEN") == "1":
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing; regenerate with HEADRACE_REGENERATE_GOLDEN=1"
    assert rendered == path.read_text(), (
        f"the manifest of {case!r} changed; if on purpose, regenerate with "
        "HEADRACE_REGENERATE_GOLDEN=1 and review the diff"
    )
    # The file is the manifest itself, not just similar text.
    assert yaml.safe_load(path.read_text()) == render_case(case)
