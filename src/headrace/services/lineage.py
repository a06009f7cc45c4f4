"""OpenLineage run events of every run, from the event outbox, for ``HEADRACE_OPENLINEAGE_URL``.

A run is one OpenLineage run of the job named like its pipeline: START when a worker starts
it, then COMPLETE (Succeeded), FAIL (Failed, Error) or ABORT (Cancelled). Its inputs are the
datasets its steps read that no step of it wrote, its outputs those its steps wrote, each
with the exact version (``version`` facet) and that version's columns (``schema`` facet); at
the end an output checked by the step that wrote it also carries the checks' results
(``dataQualityAssertions``). A START, before anything is read, names what the run's steps
declare, without versions. Events are built with ``openlineage-python``'s generated classes
when the change is handled (``services/outbox.py``) and queued as deliveries, so each is sent
at least once, retried like a webhook's (``services/dispatch.py``). The consumer starts after
the newest event: turning lineage on does not replay the store's history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any, cast

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.serde import Serde
from sqlalchemy import Connection

from headrace import __version__
from headrace.domain.checks import check_from_dict, labels
from headrace.domain.lineage import column_lineage_facets, version_lineage
from headrace.domain.pipeline import step_from_dict
from headrace.domain.records import DeliveryRecord, RunRecord, VersionRecord
from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as datasets_repo
from headrace.persistence.repositories import deliveries as deliveries_repo
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.persistence.repositories import runs as runs_repo
from headrace.persistence.repositories.events import OutboxEvent
from headrace.persistence.repositories.events import RunEvent as OutboxRunEvent

SINK = "openlineage"
PRODUCER = f"https://github.com/headrace/headrace/tree/{__version__}"

_STATES = {
    "Running": RunState.START,
    "Succeeded": RunState.COMPLETE,
    "Failed": RunState.FAIL,
    "Error": RunState.FAIL,
    "Cancelled": RunState.ABORT,
}

Schemas = dict[tuple[str, int], list[dict[str, Any]]]


def namespace(org_id: uuid.UUID) -> str:
    """The namespace of an organisation's jobs and datasets."""
    return f"headrace://{org_id}"


def _state(event: OutboxRunEvent) -> RunState | None:
    if event.step is not None or event.old is None:
        return None
    if event.new == "Running" and event.old != "Pending":  # taken over: not a new start
        return None
    return _STATES.get(event.new)


def _facets(
    name: str, version: int | None, schemas: Schemas, checks: list[dict[str, Any]] | None = None
) -> dict[str, DatasetFacet]:
    facets: dict[str, DatasetFacet] = {}
    if version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(version), producer=PRODUCER
        )
    columns = None if version is None else schemas.get((name, version))
    if columns is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=c["name"], type=c.get("type"))
                for c in columns
            ],
            producer=PRODUCER,
        )
    if checks:
        # The spec types this facet for inputs (a tool testing a table it reads); headrace's
        # checks judge the output that a step writes, so it goes on that output.
        facets["dataQualityAssertions"] = cast(
            DatasetFacet,
            data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                assertions=[_assertion(c) for c in checks], producer=PRODUCER
            ),
        )
    return facets


def _assertion(check: dict[str, Any]) -> data_quality_assertions_dataset.Assertion:
    column = ",".join(check.get("columns") or []) or None
    return data_quality_assertions_dataset.Assertion(
        assertion=str(check.get("type")),
        success=check.get("status") == "passed",
        column=column,
        severity=check.get("severity"),
        name=check.get("name"),
        actual=str(check.get("violations")),
    )


def _datasets(
    run: RunRecord, pipeline_version: VersionRecord
) -> tuple[dict[str, int | None], dict[str, int | None], dict[str, list[dict[str, Any]]]]:
    """The run's inputs and outputs (name → version, None when not yet known) and the
    results of the checks run on each output (each with the ``columns`` it checked)."""
    declared = {s.name: s.config for s in pipeline_version.steps}
    outputs: dict[str, int | None] = {}
    read: dict[str, int | None] = {}
    checks: dict[str, list[dict[str, Any]]] = {}
    for step in run.steps:
        config = declared.get(step.name, {})
        ins = list(config.get("input_datasets") or [])
        outs = list(config.get("output_datasets") or [])
        configured = [check_from_dict(c) for c in config.get("checks") or []]
        names = labels(configured, outs)
        columns = {n: c.key_columns() for n, c in zip(names, configured, strict=True)}
        for name in outs:
            outputs.setdefault(name, None)
        for name, written in (step.output_versions or {}).items():
            outputs[name] = int(written)
        for name in ins:
            read.setdefault(name, None)
        for name, pinned in (step.input_versions or {}).items():
            read[name] = int(pinned)
        for result in step.checks or []:
            target = result.get("dataset") or (outs[0] if len(outs) == 1 else None)
            if target is not None:
                found = list(columns.get(str(result.get("name")), ()))
                checks.setdefault(target, []).append({**result, "columns": found})
    inputs = {n: v for n, v in read.items() if n not in outputs}
    return inputs, outputs, checks


def _column_lineage(
    version: VersionRecord,
    ran: Iterable[str],
    inputs: dict[str, int | None],
    schemas: Schemas,
    ns: str,
) -> dict[str, DatasetFacet]:
    """The ``columnLineage`` facet of each output of the steps ``ran``, from the column
    lineage of the version (``domain/lineage.py``) over the columns it was saved with and
    the columns of the inputs' versions the run read."""
    existing = {
        name: [c["name"] for c in schemas.get((name, v), [])]
        for name, v in inputs.items()
        if v is not None
    }
    steps = [step_from_dict(s.name, s.config) for s in version.steps]
    edges = version_lineage(steps, existing, version.output_schemas)
    chosen = [edge for name in ran for edge in edges.get(name, [])]
    return {
        dataset: column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                column: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(**source)
                        for source in entry["inputFields"]
                    ]
                )
                for column, entry in facet["fields"].items()
            },
            producer=PRODUCER,
        )
        for dataset, facet in column_lineage_facets(chosen, ns).items()
    }


def _schemas(conn: Connection, org_id: uuid.UUID, wanted: Iterable[tuple[str, int]]) -> Schemas:
    pairs = set(wanted)
    rows = datasets_repo.by_names(conn, org_id, {name for name, _ in pairs})
    ids = {row.id: name for name, row in rows.items()}
    found: Schemas = {}
    for v in datasets_repo.versions(conn, list(ids)):
        key = (ids[v.dataset_id], int(v.version))
        if key in pairs:
            found[key] = list(v.schema)
    return found


def lineage_event(
    conn: Connection, versions: pipelines_repo.VersionCache, event: OutboxRunEvent, run: RunRecord
) -> RunEvent | None:
    """The OpenLineage event of one change of a run, or None when it is none."""
    state = _state(event)
    if state is None:
        return None
    pipeline = pipelines_repo.get(conn, run.org_id, run.pipeline_id)
    if pipeline is None:  # deleted meanwhile
        return None
    version = pipelines_repo.versions_by_id(conn, [run.version_id], versions)[run.version_id]
    inputs, outputs, checks = _datasets(run, version)
    if state is RunState.START:
        inputs = dict.fromkeys(inputs)
        outputs = dict.fromkeys(outputs)
    known = [(n, v) for n, v in (*inputs.items(), *outputs.items()) if v is not None]
    schemas = _schemas(conn, run.org_id, known)
    ns = namespace(run.org_id)
    run_facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name="headrace", producer=PRODUCER
        )
    }
    lineage = (
        {}
        if state is RunState.START
        else _column_lineage(version, [s.name for s in run.steps], inputs, schemas, ns)
    )
    errors = [f"{s.name}: {s.error}" for s in run.steps if s.error]
    if state is RunState.FAIL:
        message = "; ".join(errors) or f"the run ended {event.new}"
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="SQL", producer=PRODUCER
        )
    return RunEvent(
        eventType=state,
        eventTime=event.at.isoformat(),
        producer=PRODUCER,
        run=Run(runId=str(run.id), facets=run_facets),
        job=Job(
            namespace=ns,
            name=pipeline.name,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH",
                    integration="HEADRACE",
                    jobType="PIPELINE",
                    producer=PRODUCER,
                )
            },
        ),
        inputs=[
            InputDataset(namespace=ns, name=n, facets=_facets(n, v, schemas))
            for n, v in sorted(inputs.items())
        ],
        outputs=[
            OutputDataset(
                namespace=ns,
                name=n,
                facets=_facets(
                    n, v, schemas, checks.get(n) if state is not RunState.START else None
                )
                | ({"columnLineage": lineage[n]} if n in lineage else {}),
            )
            for n, v in sorted(outputs.items())
        ],
    )


class LineageConsumer:
    """Queues the OpenLineage event of each run's start and end."""

    name = "openlineage"
    from_newest = True

    def __init__(self, db: Database) -> None:
        self.versions = db.versions

    def handle(self, conn: Connection, events: list[OutboxEvent], now: dt.datetime) -> None:
        wanted = [e for e in events if isinstance(e, OutboxRunEvent) and _state(e)]
        if not wanted:
            return
        runs = {r.id: r for r in runs_repo.get_many(conn, list({e.run_id for e in wanted}))}
        queued = []
        for event in wanted:
            run = runs.get(event.run_id)
            built = lineage_event(conn, self.versions, event, run) if run else None
            if built is None:
                continue
            kind = f"lineage.{built.eventType.value.lower() if built.eventType else ''}"
            queued.append(DeliveryRecord.queued(SINK, kind, Serde.to_json(built), now))
        deliveries_repo.add(conn, queued)
