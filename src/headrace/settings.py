"""The one typed configuration of headrace, read from ``HEADRACE_*`` environment variables.

Build it once at start-up (``Settings()``) and pass it down; nothing reads it at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ByteSize, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service, each with its environment variable ``HEADRACE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="HEADRACE_", extra="ignore")

    data_dir: Path = Field(
        Path(".headrace"), description="Folder for the embedded metadata store and warehouse."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata store; SQLite under data_dir when unset "
        "(postgresql+psycopg://user:pass@host/db for PostgreSQL).",
    )
    warehouse: str | None = Field(
        None,
        description="Where dataset tables live: a folder or s3:// URI; "
        "data_dir/warehouse when unset.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="Endpoint of the S3-compatible store of an s3:// warehouse, e.g. "
        "http://minio:9000; AWS S3 when unset.",
    )
    s3_region: str = Field("us-east-1", description="Region of the s3:// warehouse.")
    s3_access_key_id: str | None = Field(
        None, description="Access key of the s3:// warehouse; the default AWS chain when unset."
    )
    s3_secret_access_key: SecretStr | None = Field(
        None, description="Secret key belonging to s3_access_key_id."
    )
    s3_allow_http: bool = Field(
        False, description="Allow a plain-HTTP s3_endpoint_url (local test stores only)."
    )
    s3_path_style: bool = Field(
        True,
        description="Path-style requests (endpoint/bucket/key); false for virtual-hosted style "
        "(bucket.endpoint/key).",
    )
    s3_cache_dir: Path | None = Field(
        None,
        description="Local mirror of an s3:// warehouse's data files, which DuckDB reads and "
        "writes; data_dir/s3-mirror when unset.",
    )
    s3_cache_max_bytes: ByteSize | None = Field(
        None,
        description="Most bytes the S3 mirror keeps: past it the least recently used files "
        "not in use by a running step or read are removed (fetched again when next read); "
        "unset, it is never trimmed. Bytes, or with a unit: 50GB, 40GiB.",
    )
    max_upload_bytes: int = Field(
        1024 * 1024 * 1024, description="Largest dataset upload accepted, in bytes (else 413)."
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024,
        description="Largest request body accepted, in bytes (else 413), except uploads "
        "(max_upload_bytes) and upserts (max_upsert_bytes).",
    )
    max_upsert_bytes: int = Field(
        32 * 1024 * 1024,
        description="Largest JSON body of PUT /datasets/upsert/, in bytes (else 413); it is "
        "parsed whole in memory, at several times its size.",
    )
    service_memory_limit: str = Field(
        "1GB",
        description="DuckDB memory_limit of the API process's own work on datasets (uploads, "
        "upserts, previews, downloads), shared by its requests; one that needs more is a 413.",
    )
    max_cell_bytes: int = Field(
        16 * 1024 * 1024,
        description="Largest single value (text or binary) an uploaded Parquet file may hold, "
        "in bytes (else 422): a few kB of compressed file can hold gigabytes of text.",
    )
    max_preview_bytes: int = Field(
        16 * 1024 * 1024,
        description="Largest page of GET /datasets/{id}/rows/, in bytes of JSON (about; else "
        "413, asking for fewer rows).",
    )
    step_timeout_seconds: float = Field(3600, description="A step running longer is interrupted.")
    unrecorded_grace_seconds: float = Field(
        300,
        description="A Delta commit the catalog has not recorded is taken for abandoned (its "
        "writer died) once it is this old, and rolled back; younger, it may be a live write "
        "about to be recorded. Unreferenced files are removed past this plus "
        "step_timeout_seconds.",
    )
    sweep_interval_seconds: float = Field(
        3600, description="How often `headrace serve` sweeps abandoned files and commits."
    )
    step_memory_limit: str = Field("4GB", description="DuckDB memory_limit of each step.")
    step_threads: int = Field(2, description="DuckDB threads of each step.")
    step_spill_limit: str = Field(
        "20GB",
        description="Disk a step may spill to when its data outgrows step_memory_limit "
        "(DuckDB max_temp_directory_size); past it the step fails.",
    )
    step_output_max_bytes: ByteSize = Field(
        ByteSize(50 * 1000**3),
        description="Most bytes a step may write (all its outputs together); past it the step "
        "is stopped and Failed, and nothing it wrote is kept. 0: no limit. Bytes, or with a "
        "unit: 50GB, 40GiB.",
    )
    org_storage_quota_bytes: ByteSize = Field(
        ByteSize(0),
        ge=0,
        description="Most bytes the dataset versions of one organisation may take, every "
        "version counted at its full size (an upload, upsert or step output past it is "
        "refused: 413, or the step Failed, nothing kept). 0: no quota. Bytes, or with a "
        "unit: 100GB, 1TiB.",
    )
    max_parallel_steps: int = Field(4, description="Steps of one run that may run at once.")
    org_max_active_runs: int = Field(
        0,
        ge=0,
        description="Runs of one organisation that workers execute at once; its other runs "
        "wait Pending (0: no limit). Workers also take the next run from the organisation "
        "with the fewest runs in progress, so one cannot hold the others back.",
    )
    run_worker: bool = Field(True, description="`headrace serve` runs a worker in-process.")
    migrate_at_start: bool = Field(
        True,
        description="`headrace serve` and `headrace worker` migrate the metadata store when "
        "they start; false where a migration Job does it first (deploy/), and the pods wait "
        "for it with `headrace db wait`.",
    )
    worker_poll_seconds: float = Field(
        0.05, description="How soon a worker that found no run looks again."
    )
    worker_idle_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="The longest an idle worker waits between looks for runs: each look that "
        "finds none doubles its wait, from worker_poll_seconds up to this. A run created in "
        "its own server wakes it at once; one created by another process waits up to this.",
    )
    scheduler_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often each worker looks for due schedule ticks and dataset triggers.",
    )
    lease_seconds: float = Field(
        30, description="A worker's claim on a run expires this long after its last heartbeat."
    )
    manifest_max_bytes: int = Field(
        1_000_000, description="Runs whose Argo manifest would be larger are refused."
    )
    argo_namespace: str = Field("headrace", description="Kubernetes namespace of the Workflows.")
    argo_image: str = Field("ghcr.io/headrace/headrace:0.1.0", description="Image of step pods.")
    argo_service_account: str = Field("headrace-step", description="Service account of step pods.")
    argo_env_secret: str | None = Field(
        "headrace-env",
        description="Kubernetes Secret whose keys become the step pods' environment.",
    )
    argo_cpu_request: str = Field("500m", description="CPU request of a step pod.")
    argo_memory_request: str = Field("1Gi", description="Memory request of a step pod.")
    argo_memory_limit: str = Field("4Gi", description="Memory limit of a step pod.")
    argo_retry_limit: int = Field(2, description="Argo retryStrategy limit (system errors only).")
    argo_active_deadline_seconds: int = Field(
        86400, description="Argo activeDeadlineSeconds of a whole Workflow."
    )
    argo_pod_gc: str = Field("OnPodSuccess", description="Argo podGC strategy.")
    argo_scratch_size: str = Field(
        "80Gi",
        description="sizeLimit of the emptyDir a step pod writes to, its root filesystem being "
        "read-only: /tmp (DuckDB's spill, up to step_spill_limit) and the data dir (the S3 "
        "mirror of the step's inputs and outputs). Past it the pod is evicted.",
    )
    argo_workflow_ttl_seconds: int = Field(
        86400,
        description="Argo ttlStrategy: a finished Workflow is deleted this long after it "
        "ended (the run's record stays in the metadata store).",
    )
    argo_run_as_user: int = Field(
        10001, description="User id of step pods (the image's non-root user)."
    )
    executor: Literal["local", "argo"] = Field(
        "local",
        description="Who executes a claimed run: `local` runs its steps in the worker, `argo` "
        "submits its manifest to the Argo Server and follows the Workflow.",
    )
    argo_server_url: str = Field(
        "https://argo-server.argo:2746",
        description="Base URL of the Argo Server (HTTPS by default; include any --base-href).",
    )
    argo_token: SecretStr | None = Field(
        None,
        description="Bearer token for the Argo Server (a ServiceAccount token with "
        "--auth-mode=client); sent as `Authorization: Bearer <token>`.",
    )
    argo_token_file: Path | None = Field(
        None,
        description="File holding the Argo Server token, read at each connection (a projected "
        "ServiceAccount token rotates); used when argo_token is unset.",
    )
    argo_verify_tls: bool = Field(
        True, description="Verify the Argo Server's TLS certificate (turn off only for tests)."
    )
    argo_ca_file: Path | None = Field(
        None, description="CA bundle to verify the Argo Server with, instead of the system's."
    )
    argo_poll_seconds: float = Field(
        2.0, description="How often the Argo executor polls a Workflow's status."
    )
    argo_connect_timeout_seconds: float = Field(
        5.0, description="Timeout to connect to the Argo Server."
    )
    argo_request_timeout_seconds: float = Field(
        30.0, description="Timeout to read, write or wait for a connection in each request."
    )
    argo_retries: int = Field(
        4,
        description="Retries of one Argo Server request on 5xx, 429 or a connection error, "
        "with exponential backoff; then the run is Error.",
    )
    argo_backoff_seconds: float = Field(
        0.5, description="First backoff between retries; doubled each time, at most 8 s."
    )
    events_poll_seconds: float = Field(
        0.25,
        description="How often a run's event stream looks for status changes in the "
        "metadata store (two small queries per open stream).",
    )
    max_streams_per_key: int = Field(
        20,
        ge=0,
        description="Run event streams one API key may hold open at once in each API process "
        "(else 429 until one ends); 0 for no cap.",
    )
    events_keepalive_seconds: float = Field(
        15, description="A quiet event stream sends a comment this often, so proxies keep it."
    )
    metrics_require_auth: bool = Field(
        False, description="/metrics needs an API key (any role) when true; open when false."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="A bearer token /metrics asks of every scrape (`Authorization: Bearer "
        "<token>`), for a Prometheus that holds no API key; unset: as metrics_require_auth says.",
    )
    key_cache_seconds: float = Field(
        5,
        ge=0,
        description="How long an API process keeps the principal of a key it has looked up. "
        "A key revoked through this process stops working at once; through another process "
        "or server, within a second (each process looks for revocations twice a second). 0 "
        "looks the key up on every request.",
    )
    serve_processes: int = Field(
        1,
        ge=1,
        description="API processes `headrace serve` starts on its port (`--workers`); past 1 "
        "the runs are executed by one worker process of their own.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Server and worker log lines as plain text or one JSON object each."
    )
    log_level: str = Field("INFO", description="Lowest level of the server's log lines.")
    secret_key: SecretStr | None = Field(
        None,
        min_length=32,
        description="The server's own key (at least 32 characters), the same for every API "
        "and worker process: stored secrets (webhook signing secrets) are encrypted with it, "
        "so a copy of the metadata store alone cannot forge signatures. Webhooks cannot be "
        "created without it.",
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhook URLs that resolve to loopback, private, link-local or other "
        "non-public addresses (refused by default: a webhook must not reach the server's own "
        "network).",
    )
    webhook_timeout_seconds: float = Field(
        10, gt=0, description="How long one delivery may take before it counts as failed."
    )
    openlineage_url: str | None = Field(
        None,
        description="Base URL of an OpenLineage backend (e.g. Marquez, http://marquez:5000): "
        "each run's START and COMPLETE/FAIL/ABORT events are POSTed to it from the workers; "
        "unset, none are made.",
    )
    openlineage_endpoint: str = Field(
        "api/v1/lineage", description="Path of the lineage endpoint under openlineage_url."
    )
    openlineage_api_key: SecretStr | None = Field(
        None, description="Sent as `Authorization: Bearer <key>` to the OpenLineage backend."
    )
    delivery_retention_days: float = Field(
        30,
        ge=0,
        description="How long the deliveries log keeps a delivery once it is delivered or "
        "given up (the sweep removes older ones).",
    )
    delivery_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often a worker process looks for new events to deliver and for "
        "deliveries due again.",
    )

    @property
    def effective_database_url(self) -> str:
        """The metadata store URL, defaulting to SQLite inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'headrace.db').resolve()}"

    @property
    def effective_warehouse(self) -> str:
        """The warehouse root, defaulting to ``data_dir/warehouse``."""
        return self.warehouse or str((self.data_dir / "warehouse").resolve())
