"""The Kubernetes deployment in deploy/ (a kustomize base and the prod overlay) and the
Dockerfile, checked as far as can be without a cluster: the overlay is rendered with
``kubectl kustomize`` (Debian's kubernetes-client; ``make check``/``make test`` install it
when missing) and the rendered objects are held to what a platform team asks of them: the
restricted Pod Security profile, a migration Job the pods wait for, probes, resources, a
PodDisruptionBudget, a short-lived Argo token, one image, and names that agree with each
other and with the settings."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from headrace.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
PROD = DEPLOY / "overlays" / "prod"
API_VERSIONS = {
    "Namespace": "v1",
    "Secret": "v1",
    "ServiceAccount": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "Job": "batch/v1",
    "PodDisruptionBudget": "policy/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
}


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@functools.cache
def _kubectl() -> str:
    """kubectl, with a kustomize that reads deploy/ (``labels``, ``replacements``: v4+)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: `make test` installs Debian's kubernetes-client"
    about = subprocess.run(
        [kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30
    )
    version = json.loads(about.stdout or "{}").get("kustomizeVersion", "v0 (before v4)")
    assert int(version.lstrip("v").split(".")[0].split()[0]) >= 4, (
        f"{kubectl} embeds kustomize {version}; deploy/ needs v4 or newer (kubectl 1.21+)"
    )
    return kubectl


@functools.cache
def _render(folder: Path) -> tuple[dict[str, Any], ...]:
    kubectl = _kubectl()
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d is not None)


def _documents() -> tuple[dict[str, Any], ...]:
    return _render(PROD)


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _documents() if d["kind"] == kind}


def _pods() -> dict[str, dict[str, Any]]:
    """The pod spec of every Deployment and Job, by the owner's name."""
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in _documents()
        if d["kind"] in ("Deployment", "Job")
    }


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def _env(container: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_base_and_overlay_render_known_kinds_in_the_settings_namespace() -> None:
    assert {d["kind"] for d in _render(DEPLOY / "base")} == set(API_VERSIONS)
    docs = _documents()
    assert {d["kind"] for d in docs} == set(API_VERSIONS)
    for doc in docs:
        assert doc["apiVersion"] == API_VERSIONS[doc["kind"]], doc["metadata"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == _default("argo_namespace"), doc["metadata"]
    namespace = _by_kind("Namespace")[_default("argo_namespace")]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_pod_follows_the_restricted_pod_security_profile() -> None:
    for name, pod in _pods().items():
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] > 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for volume in volumes.values():
            assert set(volume) & {"emptyDir", "projected", "secret", "configMap"}, volume
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), (name, volume)
        for container in _containers(pod):
            where = (name, container["name"])
            own = container["securityContext"]
            assert own["allowPrivilegeEscalation"] is False, where
            assert own["readOnlyRootFilesystem"] is True, where
            assert own["capabilities"] == {"drop": ["ALL"]}, where
            assert not own.get("privileged"), where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            # a read-only root: temporary files go to a bounded emptyDir
            assert "emptyDir" in volumes[mounts["/tmp"]], where


def test_the_dockerfile_user_is_the_pods_user() -> None:
    users = {pod["securityContext"]["runAsUser"] for pod in _pods().values()}
    assert [f"USER {u}" for u in users] == [
        line for line in _dockerfile() if line.startswith("USER")
    ]


def test_every_container_has_requests_and_limits() -> None:
    for name, pod in _pods().items():
        for container in _containers(pod):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= resources[kind].keys(), (name, container["name"])


def test_a_migration_job_migrates_and_the_pods_wait_for_it_without_migrating() -> None:
    job = _by_kind("Job")["headrace-migrate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["headrace", "db", "upgrade"]
    assert job["restartPolicy"] in ("OnFailure", "Never")
    for name in ("headrace-api", "headrace-worker"):
        pod = _pods()[name]
        waits = [c["command"][:3] for c in pod["initContainers"]]
        assert ["headrace", "db", "wait"] in waits, name
        for container in pod["containers"]:
            assert _env(container)["HEADRACE_MIGRATE_AT_START"] == "false", name
    assert "migrate_at_start" in Settings.model_fields


def test_the_api_is_ready_only_while_its_database_answers() -> None:
    api = _pods()["headrace-api"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_the_worker_sends_argo_a_projected_short_lived_token() -> None:
    pod = _pods()["headrace-worker"]
    worker = pod["containers"][0]
    token_file = Path(str(_env(worker)["HEADRACE_ARGO_TOKEN_FILE"]))
    mount = next(m for m in worker["volumeMounts"] if m["mountPath"] == str(token_file.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["path"] == token_file.name
    assert source["serviceAccountToken"]["expirationSeconds"] <= 3600
    # no long-lived token Secret, and no other pod holds a token
    assert all(
        s.get("type") != "kubernetes.io/service-account-token" for s in _by_kind("Secret").values()
    )
    for name, spec in _pods().items():
        assert spec["automountServiceAccountToken"] is False, name


def test_disruption_budgets_cover_the_api_and_the_workers() -> None:
    budgets = _by_kind("PodDisruptionBudget").values()
    for name in ("headrace-api", "headrace-worker"):
        labels = _by_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(covering) == 1, name
        spec = covering[0]["spec"]
        assert spec.get("minAvailable", 0) >= 1 or spec.get("maxUnavailable", 0) >= 1


def test_the_image_is_named_once_and_step_pods_get_the_same() -> None:
    overlay = yaml.safe_load((PROD / "kustomization.yaml").read_text())
    (entry,) = overlay["images"]
    image = f"{entry['newName']}:{entry['newTag']}"
    images = {c["image"] for pod in _pods().values() for c in _containers(pod)}
    assert images == {image}
    worker = _pods()["headrace-worker"]["containers"][0]
    assert _env(worker)["HEADRACE_ARGO_IMAGE"] == image
    elsewhere = [
        p
        for p in DEPLOY.rglob("*.yaml")
        if p != PROD / "kustomization.yaml" and entry["newName"] in p.read_text()
    ]
    assert elsewhere == []


def test_names_match_the_settings() -> None:
    assert _default("argo_env_secret") in _by_kind("Secret")
    assert _default("argo_service_account") in _by_kind("ServiceAccount")
    for name, pod in _pods().items():
        assert pod["serviceAccountName"] in _by_kind("ServiceAccount"), name
        for container in _containers(pod):
            assert {"secretRef": {"name": _default("argo_env_secret")}} in container["envFrom"]
    worker = _pods()["headrace-worker"]
    env = _env(worker["containers"][0])
    assert env["HEADRACE_EXECUTOR"] == "argo"
    assert env["HEADRACE_ARGO_SERVICE_ACCOUNT"] == _default("argo_service_account")
    assert env["HEADRACE_ARGO_ENV_SECRET"] == _default("argo_env_secret")
    assert worker["serviceAccountName"] == "headrace-worker"


def test_every_headrace_variable_is_a_setting() -> None:
    fields = {f"HEADRACE_{name.upper()}" for name in Settings.model_fields}
    names = {n for pod in _pods().values() for c in _containers(pod) for n in _env(c)}
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


def _dockerfile() -> list[str]:
    return [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_dockerfile_serves_by_default_as_the_pods_user() -> None:
    lines = _dockerfile()
    assert lines[-1] == 'CMD ["headrace", "serve", "--host", "0.0.0.0"]'
    assert "USER 10001" in lines


def test_dockerfile_installs_dependencies_from_the_lock_before_the_source() -> None:
    """Multi-stage: the dependency layer depends on the lock alone (its exported
    requirements), so a change to src/ reuses it; the final stage holds no build tools."""
    lines = _dockerfile()
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) >= 3
    export = next(i for i, line in enumerate(lines) if "uv export --frozen" in line)
    deps = next(i for i, line in enumerate(lines) if "-r /requirements.txt" in line)
    source = next(i for i, line in enumerate(lines) if line.startswith("COPY src"))
    assert export < deps < source
    between = lines[export + 1 : deps]
    assert not [
        line for line in between if line.startswith("COPY") and "/requirements.txt" not in line
    ]
    final = lines[stages[-1] :]
    assert not any("uv " in line for line in final if line.startswith("RUN"))
    assert any(line.startswith("COPY --from=") for line in final)
