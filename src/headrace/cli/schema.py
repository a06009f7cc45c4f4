"""``headrace schema pipeline-file``: the JSON Schema of pipeline files, for editors.

Point the YAML language server at it with a first line
``# yaml-language-server: $schema=<path or URL of the schema>`` and the editor checks and
completes the file (``headrace init`` writes the schema and that line into a new project).
"""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="JSON Schemas of headrace's files.", no_args_is_help=True)


def pipeline_file_schema_text() -> str:
    """The schema as committed in the repository and written by ``headrace init``."""
    from headrace.cli.pipeline_file import json_schema

    return json.dumps(json_schema(), indent=2) + "\n"


@app.command("pipeline-file")
def pipeline_file() -> None:
    """Print the JSON Schema of a pipeline file (YAML or JSON)."""
    typer.echo(pipeline_file_schema_text(), nl=False)
