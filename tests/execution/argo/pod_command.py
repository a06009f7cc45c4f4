"""A DAG task's container command as Argo runs it in the task's pod: the shared template's
``command`` + ``args`` with Argo's variables substituted.

Only the variables Argo defines for a task of the entrypoint DAG are known here (see Argo's
``docs/variables.md`` and ``workflow/controller/operator.go``: ``node.name`` is the task's
node, ``<workflow>.<task>``, named after the DAG node, which is named after the workflow);
any other ``{{…}}`` raises KeyError, as an unresolvable variable fails Argo's validation.
"""

from __future__ import annotations

import re
from typing import Any

VARIABLE = re.compile(r"\{\{([^}]+)\}\}")


def pod_command(manifest: dict[str, Any], task_name: str) -> list[str]:
    spec = manifest["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    (task,) = [t for t in templates[spec["entrypoint"]]["dag"]["tasks"] if t["name"] == task_name]
    workflow = manifest["metadata"]["name"]
    values = {
        f"workflow.parameters.{p['name']}": p["value"] for p in spec["arguments"]["parameters"]
    }
    values |= {
        "workflow.name": workflow,
        "tasks.name": task_name,
        "node.name": f"{workflow}.{task_name}",
    }
    for param in task.get("arguments", {}).get("parameters", []):
        values[f"inputs.parameters.{param['name']}"] = param["value"]
    container = templates[task["template"]]["container"]
    return [
        VARIABLE.sub(lambda m: values[m.group(1)], part)
        for part in [*container["command"], *container.get("args", [])]
    ]


def option(command: list[str], name: str) -> str:
    """The value of ``--name`` in a command line."""
    return command[command.index(name) + 1]
