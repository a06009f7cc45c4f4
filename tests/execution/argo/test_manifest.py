"""The argo_manifest of real runs validates against Argo's Workflow schema in strict mode,
and passes the semantic checks the schema cannot make."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from headrace.persistence.db import Database
from headrace.settings import Settings
from tests.factories import (
    Api,
    add_dataset_version,
    diamond_steps,
    generated_steps,
    make_pipeline,
    make_run,
)

REPO = Path(__file__).resolve().parents[3]
SCHEMA_PATH = Path(__file__).resolve().parent / "contracts" / "argo-workflow-schema.json"
SHARED_SCHEMA = REPO.parent / "shared" / "argo" / "schema.json"
WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@cache
def strict_validator() -> Draft202012Validator:
    """The Workflow definition as the root, every object definition closed to unknown keys."""
    root: dict[str, Any] = copy.deepcopy(json.loads(SCHEMA_PATH.read_text()))
    del root["oneOf"]
    root["$ref"] = f"#/definitions/{WORKFLOW}"
    for definition in root["definitions"].values():
        if (
            definition.get("type") == "object"
            and "properties" in definition
            and "additionalProperties" not in definition
        ):
            definition["additionalProperties"] = False
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root)


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in strict_validator().iter_errors(manifest)
    ]


def semantic_errors(manifest: dict[str, Any]) -> list[str]:
    """What the schema cannot see: dangling template/depends names, bad names."""
    problems: list[str] = []
    spec = manifest["spec"]
    name = manifest["metadata"].get("name", "")
    if not (DNS_SUBDOMAIN.match(name) and len(name) <= 253):
        problems.append(f"workflow name {name!r} is not DNS-1123")
    templates = {t["name"]: t for t in spec["templates"]}
    if len(templates) != len(spec["templates"]):
        problems.append("template names repeat")
    if spec.get("entrypoint") not in templates:
        problems.append(f"entrypoint {spec.get('entrypoint')!r} is not a template")
    for template in spec["templates"]:
        if not DNS_LABEL.match(template["name"]):
            problems.append(f"template name {template['name']!r} is not DNS-1123")
        tasks = template.get("dag", {}).get("tasks", [])
        names = [t["name"] for t in tasks]
        if len(set(names)) != len(names):
            problems.append(f"task names repeat in {template['name']}")
        for task in tasks:
            if not (DNS_LABEL.match(task["name"]) and len(task["name"]) <= 63):
                problems.append(f"task name {task['name']!r} is not DNS-1123")
            kinds = [k for k in ("template", "templateRef", "inline") if k in task]
            if len(kinds) != 1:
                problems.append(f"task {task['name']} has {kinds}, not one of them")
            if "template" in task and task["template"] not in templates:
                problems.append(f"task {task['name']} uses unknown template {task['template']!r}")
            if "depends" in task and "dependencies" in task:
                problems.append(f"task {task['name']} mixes depends and dependencies")
            # names in a depends expression, without .Succeeded-like suffixes and operators
            words = re.findall(r"[A-Za-z0-9_-]+(?:\.[A-Za-z]+)?", task.get("depends", ""))
            for word in words:
                target = word.split(".")[0]
                if target not in names:
                    problems.append(f"task {task['name']} depends on unknown task {target!r}")
                if target == task["name"]:
                    problems.append(f"task {task['name']} depends on itself")
    return problems


def _dag(manifest: dict[str, Any]) -> dict[str, set[str]]:
    spec = manifest["spec"]
    entry = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])
    return {
        t["name"]: set(re.findall(r"[a-z0-9-]+", t.get("depends", "")))
        for t in entry["dag"]["tasks"]
    }


def test_vendored_schema_is_the_shared_one() -> None:
    if SHARED_SCHEMA.exists():  # a clean checkout has only the vendored copy
        assert SCHEMA_PATH.read_bytes() == SHARED_SCHEMA.read_bytes()
    assert "Apache License" in (SCHEMA_PATH.parent / "ARGO-LICENSE").read_text()


GOOD: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "wf"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "step", "container": {"image": "x"}},
            {
                "name": "main",
                "dag": {
                    "tasks": [
                        {"name": "a", "template": "step"},
                        {"name": "b", "template": "step", "depends": "a"},
                    ]
                },
            },
        ],
    },
}


def _mutated(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def test_the_checks_accept_a_good_manifest_and_catch_broken_ones() -> None:
    assert schema_errors(GOOD) == []
    assert semantic_errors(GOOD) == []
    tasks = ["spec", "templates", 1, "dag", "tasks"]
    strict_only = _mutated([*tasks, 1], {"name": "b", "template": "step", "depend": "a"})
    assert schema_errors(strict_only)
    assert schema_errors(_mutated(["spec", "entryPoint"], "main"))
    assert schema_errors(_mutated(["kind"], "Workflw"))
    assert schema_errors(_mutated(["spec", "parallelism"], "2"))
    assert semantic_errors(_mutated([*tasks, 1, "template"], "nope"))
    assert semantic_errors(_mutated([*tasks, 1, "depends"], "c"))
    assert semantic_errors(_mutated(["spec", "entrypoint"], "nope"))
    assert semantic_errors(_mutated([*tasks, 0, "name"], "A_b"))
    assert semantic_errors(_mutated(["metadata", "name"], "Bad_Name"))


def _runs(api: Api, db: Database) -> dict[str, dict[str, Any]]:
    linear = make_pipeline(api, generated_steps(), name="Linear Pipeline_1")
    diamond = make_pipeline(api, diamond_steps())
    add_dataset_version(db, api.org_id, "base")
    add_dataset_version(db, api.org_id, "evens")
    return {
        "linear": make_run(api, linear["id"]),
        "diamond": make_run(api, diamond["id"]),
        "partial": make_run(api, diamond["id"], start_job_name="right"),
        "partial-middle": make_run(api, diamond["id"], start_job_name="left", end_job_name="left"),
    }


EXPECTED_DAGS: dict[str, dict[str, set[str]]] = {
    "linear": {"gen": set(), "double": {"gen"}, "total": {"double"}},
    "diamond": {"src": set(), "left": {"src"}, "right": {"src"}, "join": {"left", "right"}},
    "partial": {"right": set(), "join": {"right"}},
    "partial-middle": {"left": set()},
}


@pytest.fixture
def runs(api: Api, db: Database) -> dict[str, dict[str, Any]]:
    return _runs(api, db)


def test_real_manifests_validate_strictly(runs: dict[str, dict[str, Any]]) -> None:
    for kind, run in runs.items():
        manifest = run["argo_manifest"]
        assert schema_errors(manifest) == [], kind
        assert semantic_errors(manifest) == [], kind
        assert _dag(manifest) == EXPECTED_DAGS[kind], kind
        assert manifest["metadata"]["name"] == run["name"]
        assert len(json.dumps(manifest)) < 1_000_000


def test_manifests_hold_one_shared_step_template(runs: dict[str, dict[str, Any]]) -> None:
    for kind, run in runs.items():
        spec = run["argo_manifest"]["spec"]
        entry = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])
        used = {t["template"] for t in entry["dag"]["tasks"]}
        assert len(used) == 1, kind
        (step_template,) = [t for t in spec["templates"] if t["name"] in used]
        container = step_template["container"]
        assert container["command"] == ["headrace", "step", "exec"], kind
        assert len(spec["templates"]) == 2, kind
        # A pod finds its step by the node name Argo gives it: one task's node per run step.
        assert container["args"][-2:] == ["--node", "{{node.name}}"], kind
        workflow = run["argo_manifest"]["metadata"]["name"]
        nodes = [f"{workflow}.{t['name']}" for t in entry["dag"]["tasks"]]
        assert sorted(nodes) == sorted(s["run_name"] for s in run["run_steps"]), kind
        for step in run["pipeline_version"]["steps"]:
            assert step["config"]["query"] not in json.dumps(run["argo_manifest"]), kind


def test_step_pods_follow_the_restricted_profile_and_workflows_expire(
    runs: dict[str, dict[str, Any]],
) -> None:
    """Every step pod runs as deploy/'s pods do (non-root, no escalation, no capabilities,
    read-only root) and writes only to one bounded emptyDir: DuckDB's spill under /tmp."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    for kind, run in runs.items():
        spec = run["argo_manifest"]["spec"]
        ttl = defaults["argo_workflow_ttl_seconds"]
        assert spec["ttlStrategy"] == {"secondsAfterCompletion": ttl}, kind
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, kind
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, kind
        volumes = {v["name"]: v for v in spec["volumes"]}
        for template in spec["templates"]:
            if "container" not in template:
                continue
            container = template["container"]
            own = container["securityContext"]
            assert own["allowPrivilegeEscalation"] is False, kind
            assert own["readOnlyRootFilesystem"] is True, kind
            assert own["capabilities"] == {"drop": ["ALL"]}, kind
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
            assert mounts["/tmp"]["emptyDir"]["sizeLimit"] == defaults["argo_scratch_size"], kind
