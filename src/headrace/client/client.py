"""``Client``: one typed method per endpoint of the API (see ``shared/API.md``)."""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, TypeVar

import httpx

from headrace.client import frames
from headrace.client.diff import version_diff
from headrace.client.errors import (
    HeadraceApiError,
    HeadraceClientError,
    NotFoundError,
    ServerUnreachable,
)
from headrace.client.http import Http, Retry
from headrace.client.models import (
    ApiKeyCreated,
    ApiKeyRead,
    DatasetDetailRead,
    DatasetRead,
    DeliveryRead,
    PipelineRead,
    PipelineVersionRead,
    RunEvent,
    RunPlanRead,
    RunRead,
    ScheduleRead,
    StepIn,
    TriggerRead,
    VersionDiff,
    WebhookCreated,
    WebhookRead,
)
from headrace.client.sse import parse
from headrace.domain.runs import TERMINAL_RUN

if TYPE_CHECKING:  # the DataFrame libraries are optional, and pyarrow is imported when used
    import pandas as pd
    import polars as pl
    import pyarrow as pa

Id = uuid.UUID | str


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_T = TypeVar("_T", bound=_Named)
Steps = Sequence[StepIn | Mapping[str, Any]]

_MEDIA_TYPES = {
    ".csv": "text/csv",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/x-ndjson",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
}
# An event stream sends a comment at least every 15 s; silence for this long means it is gone.
_STREAM_READ_TIMEOUT = 60.0


def _steps(steps: Steps) -> list[dict[str, Any]]:
    return [StepIn.model_validate(s).model_dump() for s in steps]


def _run_body(
    start: str | None,
    end: str | None,
    version_id: Id | None,
    parameters: dict[str, Any] | None,
    use_cache: bool,
) -> dict[str, Any]:
    return {
        "start_job_name": start,
        "end_job_name": end,
        "version_id": str(version_id) if version_id else None,
        "parameters": parameters or {},
        "use_cache": use_cache,
    }


def _not_found(what: str, name: str) -> HeadraceApiError:
    return NotFoundError(404, "not_found", f"there is no {what} {name!r}", [], "GET", "")


@dataclass(frozen=True)
class Pushed:
    """What ``push_pipeline`` did: the pipeline as it now is, whether it was created, and
    what changed against its previous version (empty: nothing did, no version was added)."""

    pipeline: PipelineRead
    created: bool
    changes: list[str]
    # each changed step's breaking reasons ("step: reason"): removed, renamed or retyped
    # output columns with their known readers
    breaking: list[str] = field(default_factory=list)


class BreakingChange(HeadraceClientError):
    """``push_pipeline`` refused a version that breaks readers (``allow_breaking`` False)."""

    def __init__(self, breaking: list[str]) -> None:
        super().__init__(
            "the new version breaks readers (pass --allow-breaking to push it anyway): "
            + "; ".join(breaking)
        )
        self.breaking = breaking


Progress = Callable[[int, int | None], None]
"""Called as bytes move: (bytes so far, total bytes or None when unknown)."""


class _Counted(io.RawIOBase):
    """A file read for an upload, reporting each read to ``progress``."""

    def __init__(self, raw: BinaryIO, total: int, progress: Progress) -> None:
        self._raw, self._total, self._progress, self._done = raw, total, progress, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._done = self._raw.seek(offset, whence)  # a retry rewinds
        return self._done

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any) -> int:
        chunk = self._raw.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self._done += len(chunk)
        self._progress(self._done, self._total)
        return len(chunk)


def _env(name: str, given: str | None) -> str:
    value = given if given is not None else os.environ.get(name)
    if not value:
        raise HeadraceClientError(
            f"no {name.removeprefix('HEADRACE_').lower()} given: pass it, or set {name}"
        )
    return value


class Client:
    """A synchronous client of one headrace server, as one API key.

    ``Client()`` reads the server from ``HEADRACE_URL`` and the key from
    ``HEADRACE_API_KEY``. Every 4xx/5xx raises a ``HeadraceApiError`` of its kind
    (``NotFoundError``, ``InvalidInputError``, ...); no answer at all (after retries with
    jittered backoff, honouring ``Retry-After``) raises ``ServerUnreachable``. List methods
    return iterators over every page. ``AsyncClient`` has the same methods, awaitable."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: Retry | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self._http = Http(
            _env("HEADRACE_URL", base_url),
            _env("HEADRACE_API_KEY", api_key),
            timeout=timeout,
            retry=retry or Retry(),
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._http.request("GET", "/healthz").json()
        return result

    # API keys

    def create_key(self, name: str, role: str) -> ApiKeyCreated:
        body = {"name": name, "role": role}
        return ApiKeyCreated.model_validate(
            self._http.request("POST", "/api-keys/", json=body).json()
        )

    def list_keys(self, *, page_size: int = 100) -> Iterator[ApiKeyRead]:
        for item in self._http.pages("/api-keys/", {"limit": page_size}):
            yield ApiKeyRead.model_validate(item)

    def revoke_key(self, key_id: Id) -> None:
        self._http.request("DELETE", f"/api-keys/{key_id}/")

    # Webhooks

    def create_webhook(
        self, url: str, events: Sequence[str], description: str = ""
    ) -> WebhookCreated:
        body = {"url": url, "events": list(events), "description": description}
        return WebhookCreated.model_validate(
            self._http.request("POST", "/webhooks/", json=body).json()
        )

    def list_webhooks(self, *, page_size: int = 100) -> Iterator[WebhookRead]:
        for item in self._http.pages("/webhooks/", {"limit": page_size}):
            yield WebhookRead.model_validate(item)

    def delete_webhook(self, webhook_id: Id) -> None:
        self._http.request("DELETE", f"/webhooks/{webhook_id}/")

    def list_deliveries(self, webhook_id: Id, *, page_size: int = 100) -> Iterator[DeliveryRead]:
        """The webhook's deliveries, newest first."""
        path = f"/webhooks/{webhook_id}/deliveries/"
        for item in self._http.pages(path, {"limit": page_size}):
            yield DeliveryRead.model_validate(item)

    # Datasets

    def upload_dataset(
        self, path: Path, name: str, *, progress: Progress | None = None
    ) -> DatasetRead:
        """Upload a CSV, Parquet or JSON-lines file as a new dataset or a new version;
        ``progress`` is told the bytes sent so far."""
        media = _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        with path.open("rb") as raw:
            f: IO[bytes] = raw
            if progress is not None:
                f = io.BufferedReader(_Counted(raw, path.stat().st_size, progress))
            response = self._http.request(
                "POST", "/datasets/", data={"name": name}, files={"file": (path.name, f, media)}
            )
        return DatasetRead.model_validate(response.json())

    def upsert_rows(
        self,
        dataset_name: str,
        row_unique_identifier: str,
        data: Sequence[Mapping[str, Any]],
        *,
        data_schema: Mapping[str, Any] | None = None,
        check_schema: bool = False,
    ) -> DatasetRead:
        """Merge ``data`` into the dataset by key, as a new version."""
        body: dict[str, Any] = {
            "dataset_name": dataset_name,
            "row_unique_identifier": row_unique_identifier,
            "data": list(data),
        }
        if data_schema is not None:
            body["data_schema"] = dict(data_schema)
        params = {"check_schema": "true"} if check_schema else None
        response = self._http.request("PUT", "/datasets/upsert/", json=body, params=params)
        return DatasetRead.model_validate(response.json())

    def list_datasets(self, *, page_size: int = 100) -> Iterator[DatasetRead]:
        for item in self._http.pages("/datasets/", {"limit": page_size}):
            yield DatasetRead.model_validate(item)

    def get_dataset(self, dataset_id: Id) -> DatasetDetailRead:
        return DatasetDetailRead.model_validate(
            self._http.request("GET", f"/datasets/{dataset_id}/").json()
        )

    def find_dataset(self, name_or_id: str) -> DatasetRead:
        """A dataset by id, or by name (looked up in the listing)."""
        return self._find(name_or_id, self.get_dataset, self.list_datasets, "dataset")

    def dataset_rows(
        self, dataset_id: Id, *, version: int | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        params = {"version": version, "limit": limit, "offset": offset}
        rows: list[dict[str, Any]] = self._http.request(
            "GET", f"/datasets/{dataset_id}/rows/", params=params
        ).json()
        return rows

    def download_dataset(
        self,
        dataset_id: Id,
        target: Path,
        *,
        version: int | None = None,
        format: Literal["parquet", "csv"] = "parquet",
        progress: Progress | None = None,
    ) -> Path:
        """Write the dataset (a version of it) to ``target``, streamed; ``progress`` is told
        the bytes received so far."""
        params = {"version": version, "format": format}
        with (
            self._http.stream("GET", f"/datasets/{dataset_id}/download/", params=params) as r,
            target.open("wb") as f,
        ):
            length = r.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            for chunk in r.iter_bytes():
                f.write(chunk)
                if progress is not None:
                    progress(r.num_bytes_downloaded, total)
        return target

    def read_dataset(self, name: str, version: int | None = None) -> pa.Table:
        """The dataset named (or with the id) ``name``, its current or given version, as a
        pyarrow Table. To read a large table without the server in between, use its
        ``table_uri`` (``get_dataset``) with Polars, DuckDB or Spark where it is reachable."""
        import pyarrow.parquet as pq

        found = self.find_dataset(name)
        params = {"version": version, "format": "parquet"}
        response = self._http.request("GET", f"/datasets/{found.id}/download/", params=params)
        table: pa.Table = pq.read_table(io.BytesIO(response.content))
        return table

    def read_pandas(self, name: str, version: int | None = None) -> pd.DataFrame:
        """``read_dataset`` as a pandas DataFrame (``pip install 'headrace[pandas]'``)."""
        frames.need("pandas")
        return self.read_dataset(name, version).to_pandas()

    def read_polars(self, name: str, version: int | None = None) -> pl.DataFrame:
        """``read_dataset`` as a Polars DataFrame (``pip install 'headrace[polars]'``)."""
        polars = frames.need("polars")
        frame: pl.DataFrame = polars.from_arrow(self.read_dataset(name, version))
        return frame

    def delete_dataset(self, dataset_id: Id) -> None:
        self._http.request("DELETE", f"/datasets/{dataset_id}/")

    # Pipelines and versions

    def create_pipeline(
        self,
        name: str,
        steps: Steps,
        *,
        description: str = "",
        parameters: Sequence[dict[str, Any]] = (),
    ) -> PipelineRead:
        body = {
            "name": name,
            "description": description,
            "steps": _steps(steps),
            "parameters": list(parameters),
        }
        return PipelineRead.model_validate(
            self._http.request("POST", "/pipelines/", json=body).json()
        )

    def list_pipelines(self, *, page_size: int = 100) -> Iterator[PipelineRead]:
        for item in self._http.pages("/pipelines/", {"limit": page_size}):
            yield PipelineRead.model_validate(item)

    def get_pipeline(self, pipeline_id: Id) -> PipelineRead:
        response = self._http.request("GET", f"/pipelines/{pipeline_id}/")
        return PipelineRead.model_validate(response.json())

    def find_pipeline(self, name_or_id: str) -> PipelineRead:
        """A pipeline by id, or by name (looked up in the listing)."""
        return self._find(name_or_id, self.get_pipeline, self.list_pipelines, "pipeline")

    def push_pipeline(
        self,
        name: str,
        steps: Steps,
        *,
        description: str = "",
        parameters: Sequence[dict[str, Any]] = (),
        allow_breaking: bool = True,
    ) -> Pushed:
        """Create the pipeline, or add a version when its steps or parameters differ from the
        current version's (``changes``: the lines ``headrace pipelines push`` prints);
        nothing changes when they are the same. The description is updated in place."""
        bodies, declared = _steps(steps), list(parameters)
        try:
            found = self.find_pipeline(name)
        except NotFoundError:
            made = self.create_pipeline(name, bodies, description=description, parameters=declared)
            return Pushed(made, True, [])
        if description != found.description:
            found = self.update_pipeline(found.id, description=description)
        changes = version_diff(found.current_version, bodies, declared)
        breaking: list[str] = []
        if changes:
            diff = self.diff_proposed(found.id, bodies, parameters=declared)
            breaking = [f"{s.name}: {r}" for s in diff.steps if s.breaking for r in s.reasons]
            if breaking and not allow_breaking:
                raise BreakingChange(breaking)
            self.create_version(found.id, bodies, parameters=declared)
            found = self.get_pipeline(found.id)
        return Pushed(found, False, changes, breaking)

    def diff_proposed(
        self, pipeline_id: Id, steps: Steps, *, parameters: Sequence[dict[str, Any]] = ()
    ) -> VersionDiff:
        """The diff of ``steps`` against the pipeline's current version, with its breaking
        flags; creates nothing."""
        body = {"steps": _steps(steps), "parameters": list(parameters)}
        path = f"/pipelines/{pipeline_id}/versions/diff/"
        return VersionDiff.model_validate(self._http.request("POST", path, json=body).json())

    def update_pipeline(
        self,
        pipeline_id: Id,
        *,
        name: str | None = None,
        description: str | None = None,
        limits: Mapping[str, Any] | None = None,
    ) -> PipelineRead:
        """Rename, describe, or set ``limits`` (``max_active_runs``: a number or None for no
        limit, ``on_limit``: queue or skip)."""
        body: dict[str, Any] = {
            k: v for k, v in (("name", name), ("description", description)) if v is not None
        }
        body.update(limits or {})
        response = self._http.request("PATCH", f"/pipelines/{pipeline_id}/", json=body)
        return PipelineRead.model_validate(response.json())

    def create_schedule(self, /, pipeline_id: Id, **fields: Any) -> ScheduleRead:
        """A schedule: ``cron``, and ``timezone``, ``catchup``, ``parameters``, ``enabled``,
        ``start_job_name``, ``end_job_name`` as the API takes them."""
        path = f"/pipelines/{pipeline_id}/schedules/"
        return ScheduleRead.model_validate(self._http.request("POST", path, json=fields).json())

    def list_schedules(self, pipeline_id: Id) -> list[ScheduleRead]:
        found = self._http.request("GET", f"/pipelines/{pipeline_id}/schedules/").json()
        return [ScheduleRead.model_validate(s) for s in found]

    def update_schedule(self, /, pipeline_id: Id, schedule_id: Id, **changes: Any) -> ScheduleRead:
        path = f"/pipelines/{pipeline_id}/schedules/{schedule_id}/"
        return ScheduleRead.model_validate(self._http.request("PATCH", path, json=changes).json())

    def delete_schedule(self, pipeline_id: Id, schedule_id: Id) -> None:
        self._http.request("DELETE", f"/pipelines/{pipeline_id}/schedules/{schedule_id}/")

    def create_trigger(
        self, pipeline_id: Id, datasets: Sequence[str], *, mode: str = "any", debounce: float = 10
    ) -> TriggerRead:
        body = {"datasets": list(datasets), "mode": mode, "debounce_seconds": debounce}
        path = f"/pipelines/{pipeline_id}/triggers/"
        return TriggerRead.model_validate(self._http.request("POST", path, json=body).json())

    def list_triggers(self, pipeline_id: Id) -> list[TriggerRead]:
        found = self._http.request("GET", f"/pipelines/{pipeline_id}/triggers/").json()
        return [TriggerRead.model_validate(t) for t in found]

    def delete_trigger(self, pipeline_id: Id, trigger_id: Id) -> None:
        self._http.request("DELETE", f"/pipelines/{pipeline_id}/triggers/{trigger_id}/")

    def delete_pipeline(self, pipeline_id: Id) -> None:
        self._http.request("DELETE", f"/pipelines/{pipeline_id}/")

    def create_version(
        self, pipeline_id: Id, steps: Steps, *, parameters: Sequence[dict[str, Any]] = ()
    ) -> PipelineVersionRead:
        body = {"steps": _steps(steps), "parameters": list(parameters)}
        response = self._http.request("POST", f"/pipelines/{pipeline_id}/versions/", json=body)
        return PipelineVersionRead.model_validate(response.json())

    def list_versions(
        self, pipeline_id: Id, *, page_size: int = 100
    ) -> Iterator[PipelineVersionRead]:
        """Versions, newest first."""
        for item in self._http.pages(f"/pipelines/{pipeline_id}/versions/", {"limit": page_size}):
            yield PipelineVersionRead.model_validate(item)

    def get_version(self, pipeline_id: Id, version_id: Id) -> PipelineVersionRead:
        response = self._http.request("GET", f"/pipelines/{pipeline_id}/versions/{version_id}/")
        return PipelineVersionRead.model_validate(response.json())

    # Runs

    def start_run(
        self,
        pipeline_id: Id,
        *,
        start: str | None = None,
        end: str | None = None,
        version_id: Id | None = None,
        parameters: dict[str, Any] | None = None,
        use_cache: bool = True,
    ) -> RunRead:
        """A run of the current (or given) version, whole or from ``start`` to ``end``, with
        ``parameters`` for the version's declared ones; ``use_cache=False`` runs every
        selected step even when an earlier result matches."""
        body = _run_body(start, end, version_id, parameters, use_cache)
        response = self._http.request("POST", f"/pipelines/{pipeline_id}/runs/", json=body)
        return RunRead.model_validate(response.json())

    def plan_run(
        self,
        pipeline_id: Id,
        *,
        start: str | None = None,
        end: str | None = None,
        version_id: Id | None = None,
        parameters: dict[str, Any] | None = None,
        use_cache: bool = True,
    ) -> RunPlanRead:
        """What ``start_run`` with the same arguments would do now, creating nothing."""
        body = _run_body(start, end, version_id, parameters, use_cache)
        response = self._http.request("POST", f"/pipelines/{pipeline_id}/runs/plan/", json=body)
        return RunPlanRead.model_validate(response.json())

    def list_runs(
        self,
        pipeline_id: Id,
        *,
        version_id: Id | None = None,
        status: Sequence[str] = (),
        page_size: int = 100,
    ) -> Iterator[RunRead]:
        """Runs, newest first."""
        params = {"limit": page_size, "version_id": version_id, "status": list(status) or None}
        for item in self._http.pages(f"/pipelines/{pipeline_id}/runs/", params):
            yield RunRead.model_validate(item)

    def get_run(self, pipeline_id: Id, run_id: Id) -> RunRead:
        response = self._http.request("GET", f"/pipelines/{pipeline_id}/runs/{run_id}/")
        return RunRead.model_validate(response.json())

    def cancel_run(self, pipeline_id: Id, run_id: Id) -> RunRead:
        response = self._http.request("POST", f"/pipelines/{pipeline_id}/runs/{run_id}/cancel/")
        return RunRead.model_validate(response.json())

    def retry_run(self, pipeline_id: Id, run_id: Id) -> RunRead:
        response = self._http.request("POST", f"/pipelines/{pipeline_id}/runs/{run_id}/retry/")
        return RunRead.model_validate(response.json())

    def step_logs(self, pipeline_id: Id, run_id: Id, step_name: str) -> str:
        path = f"/pipelines/{pipeline_id}/runs/{run_id}/steps/{step_name}/logs/"
        return self._http.request("GET", path).text

    def wait(
        self, run: RunRead, timeout: float | None = None, *, interval: float = 0.25
    ) -> RunRead:
        """The run once it has ended; ``TimeoutError`` if it has not after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        current = run
        while current.status not in TERMINAL_RUN:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"run {run.id} is still {current.status} after {timeout} s")
            time.sleep(interval if left is None else min(interval, left))
            current = self.get_run(run.pipeline_id, run.id)
        return current

    def events(
        self, pipeline_id: Id, run_id: Id, *, last_event_id: str | None = None, reconnects: int = 5
    ) -> Iterator[RunEvent]:
        """The run's status changes as they happen, until it ends (an ``end`` event).

        A dropped stream is reopened with ``Last-Event-ID``, so nothing is missed or repeated."""
        path = f"/pipelines/{pipeline_id}/runs/{run_id}/events/"
        timeout = httpx.Timeout(self.timeout, read=_STREAM_READ_TIMEOUT)
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_event_id:
                headers["Last-Event-ID"] = last_event_id
            try:
                with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
                    for sse in parse(response.iter_lines()):
                        failures = 0
                        last_event_id = sse.id or last_event_id
                        yield RunEvent(event=sse.event, id=sse.id, data=json.loads(sse.data))
                        if sse.event == "end":
                            return
            except (httpx.TransportError, ServerUnreachable) as err:
                failures += 1
                if failures > reconnects:
                    raise ServerUnreachable(
                        f"the event stream of run {run_id} broke: {err}"
                    ) from err
            time.sleep(self._http.retry.delay(min(failures, 4)))

    @staticmethod
    def _find(
        name_or_id: str,
        get: Callable[[uuid.UUID], _T],
        listing: Callable[[], Iterator[_T]],
        what: str,
    ) -> _T:
        try:
            ident = uuid.UUID(name_or_id)
        except ValueError:
            pass
        else:
            try:
                return get(ident)
            except NotFoundError:
                pass
        for item in listing():
            if item.name == name_or_id:
                return item
        raise _not_found(what, name_or_id)
