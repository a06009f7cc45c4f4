"""An S3-compatible store for the object-storage tests: moto's server in its own process on
loopback (``shared/notes/s3.md``: it honours conditional PUTs, so concurrent Delta commits
are really tested; in the test process some deltalake calls would hang on the GIL)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import pyarrow.fs as pafs
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.factories import Api, make_org

MOTO = (
    "import threading\n"
    "from moto.server import ThreadedMotoServer\n"
    "server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
    "server.start()\n"
    "print(server.get_host_and_port()[1], flush=True)\n"
    "threading.Event().wait()\n"
)
KEY = "testing"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", MOTO], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def s3_settings(
    settings: Settings, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The session's settings with the warehouse in a fresh bucket of the moto store."""
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    host = s3_endpoint.removeprefix("http://")
    pafs.S3FileSystem(
        access_key=KEY,
        secret_key=KEY,
        region="us-east-1",
        scheme="http",
        endpoint_override=host,
        allow_bucket_creation=True,
    ).create_dir(bucket)
    return settings.model_copy(
        update={
            "warehouse": f"s3://{bucket}/warehouse",
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": KEY,
            "s3_secret_access_key": SecretStr(KEY),
            "s3_allow_http": True,
            "s3_cache_dir": tmp_path_factory.mktemp("s3-mirror"),
        }
    )


@pytest.fixture(scope="session")
def s3_client(s3_settings: Settings, db: Database) -> Iterator[TestClient]:
    with (
        Runtime(s3_settings, db) as rt,
        TestClient(create_app(s3_settings, rt), raise_server_exceptions=False) as c,
    ):
        yield c


@pytest.fixture
def s3_api(s3_client: TestClient, db: Database) -> Api:
    return make_org(s3_client, db)
