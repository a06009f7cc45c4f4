"""/datasets/: upload, upsert, list, read, download, delete."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from headrace.api.deps import Builder, Db, Paging, Rt, Viewer
from headrace.api.openapi import errors
from headrace.api.routing import SlashRouter
from headrace.api.uploads import receive_form
from headrace.domain.problems import Problem
from headrace.errors import InvalidInput
from headrace.schemas.datasets import DatasetDetailRead, DatasetRead, UpsertBody
from headrace.services import datasets
from headrace.storage.reading import ExportFormat

router = SlashRouter(tags=["datasets"])

CHUNK = 1024 * 1024

# Larger numbers are refused as invalid input rather than failing where they are used: the
# metadata store keeps version numbers as 32-bit integers, DuckDB takes 64-bit offsets.
Version = Annotated[int | None, Query(ge=0, le=2**31 - 1, description="Default: the current one.")]

_UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "name"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV (with a header), Parquet, or JSON lines "
                            "(.jsonl, .ndjson, .json)",
                        },
                        "name": {"type": "string", "description": "The dataset's name."},
                    },
                }
            }
        },
    }
}


UPLOAD_PATH = "/datasets/"


@router.post(
    UPLOAD_PATH,
    status_code=201,
    response_model=DatasetRead,
    openapi_extra=_UPLOAD_FORM,
    responses=errors(409, 413),
)
async def upload_dataset(request: Request, who: Builder, rt: Rt) -> DatasetRead:
    """A new dataset, or the next version of the one with this name. 413 when the file is
    larger than the server accepts, 422 for a file that is not readable rows (nothing is
    written then)."""
    form = await receive_form(
        request,
        file_field="file",
        folder=datasets.scratch_folder(rt.settings),
        max_bytes=rt.settings.max_upload_bytes,
    )
    try:
        problems = [
            Problem(("body", f), "this field is required", "missing")
            for f, present in (("file", form.file is not None), ("name", "name" in form.fields))
            if not present
        ]
        if problems or form.file is None:
            raise InvalidInput("the form needs the fields 'file' and 'name'", problems)
        source = datasets.SourceFile(
            form.file.path, form.file.filename, form.file.content_type, ours=True
        )
        found = await run_in_threadpool(datasets.upload, rt, who, form.fields["name"], source)
    finally:
        form.discard()
    return DatasetRead.of(found, rt.warehouse.uri(found.org_id, found.id))


UPSERT_PATH = "/datasets/upsert/"


@router.put(UPSERT_PATH, response_model=DatasetRead, responses=errors(409, 413))
def upsert_dataset(
    body: UpsertBody,
    who: Builder,
    rt: Rt,
    check_schema: Annotated[
        bool, Query(description="Refuse fields and values that do not fit the schema.")
    ] = True,
) -> DatasetRead:
    """Merge rows by ``row_unique_identifier`` into a new version; the dataset is created
    when it does not exist. A row replaces the stored row with the same key."""
    found = datasets.upsert(
        rt,
        who,
        body.dataset_name,
        body.row_unique_identifier,
        body.data,
        body.data_schema,
        check_schema=check_schema,
    )
    return DatasetRead.of(found, rt.warehouse.uri(found.org_id, found.id))


@router.get("/datasets/", response_model=list[DatasetRead])
def list_datasets(who: Viewer, db: Db, rt: Rt, paging: Paging) -> list[DatasetRead]:
    found = datasets.list_all(db, who, paging.after, paging.limit)
    paging.link_next(found, lambda d: (d.created_at, d.id))
    return [DatasetRead.of(d, rt.warehouse.uri(d.org_id, d.id)) for d in found]


@router.get("/datasets/{dataset_id}/", response_model=DatasetDetailRead)
def get_dataset(dataset_id: uuid.UUID, who: Viewer, db: Db, rt: Rt) -> DatasetDetailRead:
    detail = datasets.get(db, who, dataset_id)
    found = detail.dataset
    base = DatasetRead.of(found, rt.warehouse.uri(found.org_id, found.id)).model_dump(by_alias=True)
    versions = [v.__dict__ for v in detail.versions]
    return DatasetDetailRead.model_validate({**base, "versions": versions})


@router.get("/datasets/{dataset_id}/rows/")
def dataset_rows(
    dataset_id: uuid.UUID,
    who: Viewer,
    rt: Rt,
    version: Version = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> list[dict[str, Any]]:
    """Rows of a version as JSON objects: decimals, dates and timestamps as strings, bytes
    as base64."""
    return datasets.rows(rt, who, dataset_id, version=version, limit=limit, offset=offset)


def _stream(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        os.remove(path)


@router.get("/datasets/{dataset_id}/download/", response_class=StreamingResponse)
def download_dataset(
    dataset_id: uuid.UUID,
    who: Viewer,
    rt: Rt,
    version: Version = None,
    format: Annotated[ExportFormat, Query()] = ExportFormat.PARQUET,
) -> StreamingResponse:
    """The whole version as one Parquet or CSV file."""
    export = datasets.export(rt, who, dataset_id, version=version, fmt=format)
    return StreamingResponse(
        _stream(export.path),
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Content-Length": str(os.path.getsize(export.path)),
        },
    )


@router.delete(
    "/datasets/{dataset_id}/", status_code=204, response_class=Response, responses=errors(409)
)
def delete_dataset(dataset_id: uuid.UUID, who: Builder, rt: Rt) -> Response:
    """Delete the dataset with every version; 409 while a pipeline's current version reads
    it."""
    datasets.delete(rt, who, dataset_id)
    return Response(status_code=204)
