"""An in-process fake Argo Server over real HTTP (uvicorn on a loopback port, in a thread).

It honours the vendored contracts: every request is checked against the Swagger spec (the
path and method exist, path/query parameters are declared, required ones are present, the
body validates, strictly, against the referenced definition) and the bearer token; every
Workflow it answers with validates, strictly, against the Workflow JSON Schema. Anything
that does not is recorded in ``violations`` (and answered 400/401), so a test asserts that
list is empty.

Its controller walks the phases a real one walks, one step per GET of the workflow:
"" → Pending → Running; each task a ``Retry`` node with ``Pod`` attempts that go Pending →
Running → Succeeded/Failed/Error; tasks whose dependencies did not succeed are Omitted; the
workflow ends Succeeded, Failed or Error. A pod is a callback given the task's container
command with Argo's variables substituted (``pod_command``): the test's own ``StepRunner``
runs the step it names, as ``headrace step exec`` in a real pod would.

Faults can be queued: an HTTP status (503, 429) or a dropped connection, before or after
the request is handled.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import re
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn

from tests.execution.argo.contracts import swagger, swagger_errors, workflow_errors
from tests.execution.argo.pod_command import pod_command

# A pod: its container command → exit code (0 ok, else the step failed) or "error" (the pod
# itself failed: OOM-killed, evicted, deleted).
Pod = Callable[[list[str]], "int | str"]
STOP_MESSAGE = "Stopped with strategy 'Stop'"
POD_ERROR_MESSAGE = "OOMKilled (exit code 137)"

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


@dataclass
class Fault:
    """What to do to the next request matching ``method`` and ``path_suffix``."""

    method: str
    path_suffix: str = ""
    status: int | None = None  # answer with this status instead
    drop: bool = False  # close the connection mid-answer
    after_handling: bool = False  # ...after the request took effect
    retry_after: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    answered: int | str


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fnv1a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def _node_id(workflow: str, node_name: str) -> str:
    return workflow if node_name == workflow else f"{workflow}-{_fnv1a(node_name)}"


@dataclass
class Task:
    name: str
    command: list[str]
    deps: list[str]
    node_id: str | None = None
    attempts: list[str] = field(default_factory=list)


class WorkflowSim:
    """One Workflow and the controller's view of it."""

    def __init__(self, manifest: dict[str, Any], pod: Pod) -> None:
        self.obj = copy.deepcopy(manifest)
        meta = self.obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["resourceVersion"] = "1"
        self.name: str = meta["name"]
        self.pod = pod
        spec = self.obj["spec"]
        templates = {t["name"]: t for t in spec["templates"]}
        dag = templates[spec["entrypoint"]]["dag"]
        step_template = templates[dag["tasks"][0]["template"]]
        self.retry_limit = int(step_template.get("retryStrategy", {}).get("limit", "0"))
        self.tasks = {
            t["name"]: Task(
                name=t["name"],
                command=pod_command(self.obj, t["name"]),
                deps=[d.strip() for d in t["depends"].split("&&")] if t.get("depends") else [],
            )
            for t in dag["tasks"]
        }
        self.phase = ""
        self.message: str | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.nodes: dict[str, dict[str, Any]] = {}
        self.shutdown: str | None = None
        self.shutdown_message: str | None = None

    # -- what the server shows ------------------------------------------------------------

    def object(self) -> dict[str, Any]:
        obj = copy.deepcopy(self.obj)
        labels = obj["metadata"].setdefault("labels", {})
        labels["workflows.argoproj.io/phase"] = self.phase or "Pending"
        labels["workflows.argoproj.io/completed"] = str(self.finished).lower()
        if self.shutdown:
            obj["spec"]["shutdown"] = self.shutdown
        if self.phase:
            pods = [n for n in self.nodes.values() if n["type"] == "Pod"]
            done = [n for n in pods if n["phase"] not in ("Pending", "Running")]
            status: dict[str, Any] = {
                "phase": self.phase,
                "progress": f"{len(done)}/{max(len(pods), len(self.tasks))}",
                "nodes": copy.deepcopy(self.nodes),
            }
            if self.started_at:
                status["startedAt"] = self.started_at
            if self.finished_at:
                status["finishedAt"] = self.finished_at
            if self.message:
                status["message"] = self.message
            obj["status"] = status
        return obj

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed", "Error")

    # -- the controller -------------------------------------------------------------------

    def _add_node(self, name: str, **fields: Any) -> dict[str, Any]:
        node = {"id": _node_id(self.name, name), "name": name, **fields}
        self.nodes[node["id"]] = node
        return node

    def _finish_node(self, node: dict[str, Any], phase: str, message: str | None = None) -> None:
        node["phase"] = phase
        node["finishedAt"] = _now()
        if message:
            node["message"] = message

    def stop(self, strategy: str, message: str | None) -> None:
        self.shutdown = strategy
        self.shutdown_message = message

    def tick(self) -> None:
        if self.finished:
            return
        if self.phase == "":
            self.phase = "Pending"
            return
        if self.phase == "Pending":
            self.phase = "Running"
            self.started_at = _now()
            self._add_node(
                self.name,
                displayName=self.name,
                type="DAG",
                phase="Running",
                startedAt=self.started_at,
                templateName="main",
                children=[],
            )
            self._schedule()
            return
        if self.shutdown:
            self._apply_shutdown()
            return
        for task in self.tasks.values():
            self._advance(task)
        self._schedule()
        self._maybe_finish()

    def _apply_shutdown(self) -> None:
        for task in self.tasks.values():
            if task.node_id is None:
                continue
            parent = self.nodes[task.node_id]
            if parent["phase"] in ("Pending", "Running"):
                for pod_id in task.attempts:
                    if self.nodes[pod_id]["phase"] in ("Pending", "Running"):
                        self._finish_node(self.nodes[pod_id], "Failed", STOP_MESSAGE)
                self._finish_node(parent, "Failed", STOP_MESSAGE)
        self._finish_node(self.nodes[self.name], "Failed", STOP_MESSAGE)
        self.phase = "Failed"
        self.message = STOP_MESSAGE
        self.finished_at = _now()

    def _new_attempt(self, task: Task) -> None:
        assert task.node_id is not None
        attempt = self._add_node(
            f"{self.name}.{task.name}({len(task.attempts)})",
            displayName=f"{task.name}({len(task.attempts)})",
            type="Pod",
            phase="Pending",
            boundaryID=self.name,
            templateName="step",
        )
        task.attempts.append(attempt["id"])
        self.nodes[task.node_id].setdefault("children", []).append(attempt["id"])

    def _advance(self, task: Task) -> None:
        if task.node_id is None or not task.attempts:
            return
        parent = self.nodes[task.node_id]
        pod = self.nodes[task.attempts[-1]]
        if pod["phase"] == "Pending":
            pod["phase"] = parent["phase"] = "Running"
            pod["startedAt"] = _now()
            parent.setdefault("startedAt", pod["startedAt"])
        elif pod["phase"] == "Running":
            result = self.pod(task.command)
            if result == 0:
                self._finish_node(pod, "Succeeded")
                self._finish_node(parent, "Succeeded")
            elif result == "error":
                self._finish_node(pod, "Error", POD_ERROR_MESSAGE)
                if len(task.attempts) <= self.retry_limit:  # retryPolicy OnError
                    self._new_attempt(task)
                else:
                    self._finish_node(parent, "Error", POD_ERROR_MESSAGE)
            else:
                message = f"Error (exit code {result})"
                self._finish_node(pod, "Failed", message)
                self._finish_node(parent, "Failed", message)

    def _phase_of(self, task: str) -> str | None:
        node_id = self.tasks[task].node_id
        return None if node_id is None else str(self.nodes[node_id]["phase"])

    def _schedule(self) -> None:
        dag = self.nodes[self.name]
        for task in self.tasks.values():
            if task.node_id is not None:
                continue
            phases = [self._phase_of(d) for d in task.deps]
            if any(p in ("Failed", "Error", "Omitted") for p in phases):
                node = self._add_node(
                    f"{self.name}.{task.name}",
                    displayName=task.name,
                    type="Skipped",
                    phase="Omitted",
                    boundaryID=self.name,
                    templateName="step",
                    message="omitted: depends condition not met",
                    startedAt=_now(),
                    finishedAt=_now(),
                )
                task.node_id = node["id"]
            elif all(p in ("Succeeded", "Skipped") for p in phases):
                node = self._add_node(
                    f"{self.name}.{task.name}",
                    displayName=task.name,
                    type="Retry",
                    phase="Pending",
                    boundaryID=self.name,
                    templateName="step",
                    children=[],
                )
                task.node_id = node["id"]
                self._new_attempt(task)
            else:
                continue
            if not task.deps:
                dag["children"].append(task.node_id)

    def _maybe_finish(self) -> None:
        phases = [self._phase_of(t) for t in self.tasks]
        if any(p is None or p in ("Pending", "Running") for p in phases):
            return
        if "Error" in phases:
            phase = "Error"
        elif "Failed" in phases:
            phase = "Failed"
        else:
            phase = "Succeeded"
        failed = next((t for t in self.tasks if self._phase_of(t) in ("Error", "Failed")), None)
        message = f"child '{self.name}.{failed}' failed" if failed else None
        self._finish_node(self.nodes[self.name], phase, message)
        self.phase = phase
        self.message = message
        self.finished_at = _now()


def _filter_fields(obj: dict[str, Any], fields: str) -> dict[str, Any]:
    """Argo's ``fields=``: dotted paths to keep (whole subtrees); ``-path`` to drop."""
    paths = [f.strip() for f in fields.split(",") if f.strip()]
    if paths and all(p.startswith("-") for p in paths):
        out = copy.deepcopy(obj)
        for path in paths:
            *parents, last = path[1:].split(".")
            target: Any = out
            for key in parents:
                target = target.get(key, {}) if isinstance(target, dict) else {}
            if isinstance(target, dict):
                target.pop(last, None)
        return out
    kept: dict[str, Any] = {}
    for path in paths:
        keys = path.split(".")
        source: Any = obj
        for key in keys:
            source = source.get(key) if isinstance(source, dict) else None
        if source is None:
            continue
        target = kept
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = copy.deepcopy(source)
    return kept


@dataclass(frozen=True)
class Operation:
    template: str
    method: str
    spec: dict[str, Any]
    pattern: re.Pattern[str]
    literal_segments: int


def _operations() -> list[Operation]:
    ops = []
    for template, methods in swagger()["paths"].items():
        regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
        literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
        for method, spec in methods.items():
            if method in ("get", "put", "post", "delete", "patch"):
                ops.append(
                    Operation(template, method.upper(), spec, re.compile(f"^{regex}$"), literal)
                )
    ops.sort(key=lambda o: -o.literal_segments)
    return ops


class FakeArgo:
    """The fake server: ``start()`` returns its base URL; ``stop()`` shuts it down."""

    def __init__(self, pod: Pod, token: str = "fake-argo-token") -> None:
        self.pod = pod
        self.token = token
        self.workflows: dict[tuple[str, str], WorkflowSim] = {}
        self.requests: list[Seen] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.gets_until_shutdown: int | None = None
        self.operations = _operations()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            interface="asgi3",
            log_level="critical",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                break
            threading.Event().wait(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- HTTP -----------------------------------------------------------------------------

    async def app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body_bytes = b""
        while True:
            message = await receive()
            body_bytes += message.get("body", b"")
            if not message.get("more_body"):
                break
        method = scope["method"]
        path = scope["path"]
        query = parse_qs(scope["query_string"].decode(), keep_blank_values=True)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            body = json.loads(body_bytes) if body_bytes else None
        except ValueError:
            body = "<not JSON>"
        if self._gone():
            # Shut down, but uvicorn serves a kept-alive connection until it has exited:
            # whatever comes after the last GET allowed finds no server.
            await self._drop(send)
            return
        fault = self._take_fault(method, path)
        if fault is not None and not fault.after_handling:
            self.requests.append(Seen(method, path, query, body, fault.status or "dropped"))
            if fault.drop:
                await self._drop(send)
                return
            assert fault.status is not None
            extra = [(b"retry-after", fault.retry_after.encode())] if fault.retry_after else []
            await self._send(send, fault.status, {"code": 14, "message": "unavailable"}, extra)
            return
        try:
            status, answer = self._handle(method, path, query, headers, body)
        except Exception as err:  # a bug in the fake: make it loud
            status, answer = self._violation(f"the fake failed: {traceback.format_exc()}")
            status = 500
            del err
        self.requests.append(Seen(method, path, query, body, status))
        if fault is not None and fault.drop:
            await self._drop(send)
            return
        await self._send(send, status, answer)
        if self._gone():
            assert self._server is not None
            self._server.should_exit = True

    def _gone(self) -> bool:
        """Whether the GETs ``gets_until_shutdown`` allows have all been answered."""
        return (
            self.gets_until_shutdown is not None
            and sum(1 for r in self.requests if r.method == "GET") >= self.gets_until_shutdown
        )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and path.endswith(fault.path_suffix):
                self.faults.remove(fault)
                return fault
        return None

    @staticmethod
    async def _send(
        send: Send, status: int, body: object, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send(
            {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
        )
        await send({"type": "http.response.body", "body": data})

    @staticmethod
    async def _drop(send: Send) -> None:
        """Promise a body, send part of it, then fail: uvicorn closes the connection."""
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"metadata":', "more_body": True})
        await asyncio.sleep(0)
        raise ConnectionAbortedError("the fake Argo Server drops this connection on purpose")

    def _violation(self, text: str) -> tuple[int, dict[str, Any]]:
        self.violations.append(text)
        return 400, {"code": 3, "message": text}

    def _check(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
    ) -> tuple[Operation, dict[str, str]] | tuple[int, dict[str, Any]]:
        """The swagger operation of the request and its path parameters, or an error answer."""
        for op in self.operations:
            match = op.pattern.match(path)
            if match and op.method == method:
                break
        else:
            return self._violation(f"{method} {path}: no such operation in swagger.json")
        if headers.get("authorization") != f"Bearer {self.token}":
            self.violations.append(f"{method} {path}: missing or wrong bearer token")
            return 401, {"code": 16, "message": "token not valid"}
        params = op.spec.get("parameters", [])
        declared = {p["name"]: p for p in params if p["in"] == "query"}
        for name, values in query.items():
            if name not in declared:
                return self._violation(f"{op.method} {op.template}: undeclared query {name!r}")
            if declared[name].get("type") == "boolean" and values[-1] not in ("true", "false"):
                return self._violation(f"{op.method} {op.template}: {name} is not a boolean")
        for p in params:
            if p.get("required") and p["in"] == "query" and p["name"] not in query:
                return self._violation(f"{op.method} {op.template}: query {p['name']} missing")
        body_param = next((p for p in params if p["in"] == "body"), None)
        if body_param is None and body is not None:
            return self._violation(f"{op.method} {op.template}: takes no body")
        if body_param is not None:
            if body is None:
                if body_param.get("required"):
                    return self._violation(f"{op.method} {op.template}: body missing")
            else:
                if "application/json" not in headers.get("content-type", ""):
                    return self._violation(f"{op.method} {op.template}: body is not JSON")
                definition = body_param["schema"]["$ref"].rsplit("/", 1)[-1]
                errors = swagger_errors(definition, body)
                if errors:
                    return self._violation(
                        f"{op.method} {op.template}: body is not a {definition}: {errors[:5]}"
                    )
        return op, match.groupdict()

    def _answer(self, sim: WorkflowSim, fields: str | None = None) -> tuple[int, dict[str, Any]]:
        obj = sim.object()
        errors = workflow_errors(obj)
        if errors:
            return self._violation(f"the fake answered an invalid Workflow: {errors[:5]}")
        return 200, _filter_fields(obj, fields) if fields else obj

    def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
    ) -> tuple[int, dict[str, Any]]:
        checked = self._check(method, path, query, headers, body)
        if isinstance(checked[0], int):
            return checked
        op, args = checked
        namespace = args["namespace"]
        key = (namespace, args.get("name", ""))
        if op.template == "/api/v1/workflows/{namespace}" and method == "POST":
            manifest = body["workflow"]
            key = (namespace, manifest["metadata"]["name"])
            if manifest["metadata"].get("namespace", namespace) != namespace:
                return self._violation("workflow namespace differs from the path's")
            if key in self.workflows:
                return 409, {
                    "code": 6,
                    "message": f'workflows.argoproj.io "{key[1]}" already exists',
                }
            self.workflows[key] = WorkflowSim(manifest, self.pod)
            return self._answer(self.workflows[key])
        sim = self.workflows.get(key)
        if sim is None:
            return 404, {"code": 5, "message": f'workflows.argoproj.io "{key[1]}" not found'}
        if op.template == "/api/v1/workflows/{namespace}/{name}" and method == "GET":
            sim.tick()
            return self._answer(sim, query.get("fields", [None])[-1])
        if op.template.endswith("/stop") or op.template.endswith("/terminate"):
            if sim.finished:
                return 409, {"code": 9, "message": "cannot shutdown a completed workflow"}
            strategy = "Stop" if op.template.endswith("/stop") else "Terminate"
            sim.stop(strategy, (body or {}).get("message"))
            return self._answer(sim)
        return self._violation(f"{method} {op.template}: not implemented by the fake")
