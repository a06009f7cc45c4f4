"""The example pipeline (examples/shop): its steps and sources, set up on a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from headrace.client import Client

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shop" / "pipeline.yaml"


def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return loaded


def prepare(client: Client, name: str = "shop") -> str:
    """Upload the example's sources and create its pipeline; the pipeline's id."""
    spec = definition()
    for source, path in spec["sources"].items():
        client.upload_dataset(EXAMPLE.parent / path, source)
    return str(client.create_pipeline(name, spec["steps"]).id)
