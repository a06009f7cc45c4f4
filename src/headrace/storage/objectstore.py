"""Tables in S3-compatible object storage, read and written through a local mirror.

DuckDB cannot reach S3 here (its httpfs extension is not installable offline), so DuckDB only
ever sees local files, and pyarrow moves them: a table ``s3://bucket/key`` has a local
mirror folder ``<cache>/bucket/key``. A write's files are staged in the mirror at the very
path they get in the table (``w-<uuid>/part-….parquet``), uploaded, then committed by
deltalake straight to S3 (its commits are conditional PUTs, so concurrent writers never
overwrite each other: ``shared/notes/s3.md``). A read downloads the files of the pinned
version that the mirror lacks. Delta data files are never rewritten under the same name, so
a mirrored file stays valid for as long as the table exists, and one evicted to keep the
mirror under ``cache_max_bytes`` (``mirror.py``) is simply fetched again when next read.

Which store serves an ``s3://`` location travels with it: the warehouse makes each table's
location a ``Remote`` (a string that carries its store), and the storage functions, which
take a table location as a string, find the store on it. Local folders need no store and
take none of these paths.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from headrace.errors import SystemFailure
from headrace.storage.mirror import PARTIAL, BoundedMirror, scope

if TYPE_CHECKING:  # imported where used: only a store on S3 needs it
    import pyarrow.fs as pafs

SCHEME = "s3://"
FETCH_ATTEMPTS = 3


@dataclass(frozen=True)
class ObjectStore:
    """How to reach one S3-compatible store, and where its local mirror lives."""

    cache_dir: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    allow_http: bool = False
    path_style: bool = True
    cache_max_bytes: int | None = None  # None: the mirror is never trimmed

    @property
    def storage_options(self) -> dict[str, str]:
        """deltalake's storage options; credentials left out fall back to the default chain
        (environment, instance or pod identity)."""
        options = {
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": str(self.allow_http).lower(),
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": str(not self.path_style).lower(),
        }
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.access_key_id and self.secret_access_key:
            options["AWS_ACCESS_KEY_ID"] = self.access_key_id
            options["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        return options

    @cached_property
    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's S3 client for the same store (moves the data files)."""
        import pyarrow.fs as pafs

        endpoint = urlsplit(self.endpoint_url) if self.endpoint_url else None
        return pafs.S3FileSystem(
            access_key=self.access_key_id if self.secret_access_key else None,
            secret_key=self.secret_access_key if self.access_key_id else None,
            region=self.region,
            scheme=endpoint.scheme if endpoint else "https",
            endpoint_override=endpoint.netloc if endpoint else None,
            force_virtual_addressing=not self.path_style,
        )

    @cached_property
    def bound(self) -> BoundedMirror:
        """What keeps the mirror under ``cache_max_bytes``."""
        return BoundedMirror(self.cache_dir, self.cache_max_bytes)

    def mirror(self, uri: str) -> str:
        """The local folder or file that mirrors ``uri``."""
        return os.path.join(self.cache_dir, uri.removeprefix(SCHEME))

    def uri(self, local: str) -> str:
        """The object a mirror file copies (the inverse of ``mirror``)."""
        return SCHEME + os.path.relpath(local, self.cache_dir)

    def stage(self, folder: str) -> None:
        """Pin a new write's folder in the mirror (in the enclosing ``pinning()`` block) so
        no file written into it is evicted before it is uploaded."""
        with scope() as pins:
            pins.hold_folder(folder)
            pins.trims(self.bound)

    def upload(self, table: str, files: Iterable[str]) -> None:
        """Copy staged mirror files to their place in the table, then trim the mirror."""
        import pyarrow.fs as pafs

        root = self.mirror(table)
        for path in files:
            key = f"{table.removeprefix(SCHEME)}/{os.path.relpath(path, root)}"
            pafs.copy_files(
                path,
                key,
                source_filesystem=pafs.LocalFileSystem(),
                destination_filesystem=self.filesystem,
            )
        self.bound.make_room()

    def download(self, uris: Iterable[str]) -> list[str]:
        """Local copies of the files at ``uris``, pinned in the enclosing ``pinning()``
        block; those the mirror lacks are fetched, after making room for them."""
        wanted = [(uri, self.mirror(uri)) for uri in uris]
        with scope() as pins:
            pins.trims(self.bound)
            missing = [(uri, path) for uri, path in wanted if not pins.hold(path)]
            for _ in range(FETCH_ATTEMPTS):
                if not missing:
                    return [path for _, path in wanted]
                keys = [uri.removeprefix(SCHEME) for uri, _ in missing]
                self.bound.make_room(sum(i.size or 0 for i in self.filesystem.get_file_info(keys)))
                for uri, path in missing:
                    self._fetch(uri, path)
                # a file another process evicted before it was pinned here is fetched again
                missing = [(uri, path) for uri, path in missing if not pins.hold(path)]
        raise SystemFailure("the S3 mirror is too small for the files in use; raise its limit")

    def _fetch(self, uri: str, path: str) -> None:
        import pyarrow.fs as pafs

        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.{uuid.uuid4().hex}{PARTIAL}"
        pafs.copy_files(
            uri.removeprefix(SCHEME),
            partial,
            source_filesystem=self.filesystem,
            destination_filesystem=pafs.LocalFileSystem(),
        )
        os.replace(partial, path)  # readers never see half a file

    def read(self, uri: str) -> bytes:
        """The whole content of one (small) object, e.g. a Delta log entry."""
        with self.filesystem.open_input_stream(uri.removeprefix(SCHEME)) as f:
            return bytes(f.read())

    def remove(self, table: str) -> None:
        """Delete the table's objects and its mirror (gone already is fine)."""
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_dir(table.removeprefix(SCHEME))
        shutil.rmtree(self.mirror(table), ignore_errors=True)


class Remote(str):
    """An ``s3://`` location together with the store that serves it (``Warehouse.table``
    makes them). It is the plain URI everywhere a location is used (in caches' keys, in
    deltalake's calls), and the storage functions find its store on it: which store serves
    a table is its warehouse's business, not the process's."""

    store: ObjectStore

    def __new__(cls, uri: str, store: ObjectStore) -> Remote:
        location = super().__new__(cls, uri)
        location.store = store
        return location

    def __reduce__(self) -> tuple[type[Remote], tuple[str, ObjectStore]]:
        return (Remote, (str(self), self.store))


def store_for(location: str) -> ObjectStore | None:
    """The store serving ``location``; None for a local path."""
    if isinstance(location, Remote):
        return location.store
    if not location.startswith(SCHEME):
        return None
    raise SystemFailure(f"no object store is configured for {location}")
