"""The Kubernetes manifests in deploy/ and the Dockerfile, checked as far as can be without a
cluster: every YAML document parses, kinds and apiVersions are the right pairs, names refer
to objects that exist, and the names the settings expect are the ones deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from headrace.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
API_VERSIONS = {
    "Namespace": "v1",
    "Secret": "v1",
    "ServiceAccount": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
}


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((ROOT / "deploy").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _documents() if d["kind"] == kind}


def _containers() -> list[dict[str, Any]]:
    return [
        c
        for d in _by_kind("Deployment").values()
        for c in d["spec"]["template"]["spec"]["containers"]
    ]


def test_every_document_is_a_known_kind_in_the_settings_namespace() -> None:
    docs = _documents()
    assert {d["kind"] for d in docs} == set(API_VERSIONS)
    for doc in docs:
        assert doc["apiVersion"] == API_VERSIONS[doc["kind"]], doc["metadata"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == _default("argo_namespace"), doc["metadata"]


def test_names_match_the_settings() -> None:
    assert _default("argo_env_secret") in _by_kind("Secret")
    assert _default("argo_service_account") in _by_kind("ServiceAccount")
    for container in _containers():
        assert {"secretRef": {"name": _default("argo_env_secret")}} in container["envFrom"]
    worker = _by_kind("Deployment")["headrace-worker"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in worker["containers"][0]["env"]}
    assert env["HEADRACE_EXECUTOR"] == "argo"
    assert env["HEADRACE_ARGO_SERVICE_ACCOUNT"] == _default("argo_service_account")
    assert env["HEADRACE_ARGO_ENV_SECRET"] == _default("argo_env_secret")
    assert worker["serviceAccountName"] in _by_kind("ServiceAccount")


def test_every_headrace_variable_is_a_setting() -> None:
    fields = {f"HEADRACE_{name.upper()}" for name in Settings.model_fields}
    names = {e["name"] for c in _containers() for e in c.get("env", [])}
    names |= {k for s in _by_kind("Secret").values() for k in s.get("stringData", {})}
    assert {n for n in names if n.startswith("HEADRACE_")} <= fields


def test_role_bindings_grant_what_the_executor_does() -> None:
    roles, accounts = _by_kind("Role"), _by_kind("ServiceAccount")
    for binding in _by_kind("RoleBinding").values():
        assert binding["roleRef"]["name"] in roles
        assert all(s["name"] in accounts for s in binding["subjects"])
    worker_roles = [
        roles[b["roleRef"]["name"]]
        for b in _by_kind("RoleBinding").values()
        if any(s["name"] == "headrace-worker" for s in b["subjects"])
    ]
    granted = {
        verb
        for role in worker_roles
        for rule in role["rules"]
        if "argoproj.io" in rule["apiGroups"] and "workflows" in rule["resources"]
        for verb in rule["verbs"]
    }
    # create (submit), get (poll), update (stop and terminate are updates of the object)
    assert {"create", "get", "update"} <= granted


def test_deployments_select_their_pods_and_the_service_finds_the_api() -> None:
    deployments = _by_kind("Deployment")
    for deployment in deployments.values():
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
    service = _by_kind("Service")["headrace-api"]
    api_labels = deployments["headrace-api"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= api_labels.items()
    port_names = {
        p["name"]
        for c in deployments["headrace-api"]["spec"]["template"]["spec"]["containers"]
        for p in c["ports"]
    }
    assert all(p["targetPort"] in port_names for p in service["spec"]["ports"])


def test_dockerfile_serves_by_default() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    assert lines[-1] == 'CMD ["headrace", "serve", "--host", "0.0.0.0"]'
    assert any(line.startswith("RUN pip install .") for line in lines)
