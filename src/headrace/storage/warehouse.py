"""Where each dataset's table lives: a local folder, or an ``s3://`` URI (``objectstore.py``).
Locations are built from ids, never from names, so no dataset name can reach outside the
warehouse."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from headrace.storage.objectstore import SCHEME, ObjectStore, Remote

if TYPE_CHECKING:
    from headrace.settings import Settings


class Warehouse:
    """The root holding one sub-folder (or key prefix) per organisation, one table per
    dataset."""

    def __init__(self, root: str, store: ObjectStore | None = None) -> None:
        remote = root.startswith(SCHEME)
        if remote and store is None:
            raise ValueError(f"the warehouse {root} needs an object store")
        self.store = store if remote else None
        self.root = root.rstrip("/") if remote else os.path.abspath(root)

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        secret = settings.s3_secret_access_key
        limit = settings.s3_cache_max_bytes
        store = ObjectStore(
            cache_dir=str((settings.s3_cache_dir or settings.data_dir / "s3-mirror").resolve()),
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            allow_http=settings.s3_allow_http,
            path_style=settings.s3_path_style,
            cache_max_bytes=None if limit is None else int(limit),
        )
        return cls(settings.effective_warehouse, store)

    def org_folder(self, org_id: uuid.UUID) -> str:
        return f"{self.root}/{org_id.hex}" if self.store else os.path.join(self.root, org_id.hex)

    def table(self, org_id: uuid.UUID, dataset_id: uuid.UUID) -> str:
        """The table location of one dataset (a local folder is created on first use)."""
        if self.store is not None:
            return Remote(f"{self.org_folder(org_id)}/{dataset_id.hex}", self.store)
        path = os.path.join(self.org_folder(org_id), dataset_id.hex)
        os.makedirs(path, exist_ok=True)
        return path

    def uri(self, org_id: uuid.UUID, dataset_id: uuid.UUID) -> str:
        """Where a dataset's Delta table is, as a URI another reader (Polars, DuckDB, Spark,
        deltalake) opens directly: ``s3://…`` or ``file:///…``. Nothing is created."""
        if self.store is not None:
            return f"{self.org_folder(org_id)}/{dataset_id.hex}"
        return Path(self.org_folder(org_id), dataset_id.hex).as_uri()

    def remove_table(self, org_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
        """Delete a dataset's table with every version in it (gone already is fine)."""
        if self.store is not None:
            self.store.remove(f"{self.org_folder(org_id)}/{dataset_id.hex}")
        else:
            shutil.rmtree(os.path.join(self.org_folder(org_id), dataset_id.hex), ignore_errors=True)
