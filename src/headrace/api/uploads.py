"""A multipart/form-data body streamed to disk, its file part capped while it streams.

Starlette's own form parsing spools the whole body before the route runs, so a limit could
only be checked once an oversized file had been received completely. Here the body is read
chunk by chunk: the file part goes straight into a temporary file and the request is refused
(413) as soon as it passes ``max_bytes``; small text fields are kept in memory up to a small
cap of their own.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from headrace.domain.problems import Problem
from headrace.errors import InvalidInput, PayloadTooLarge

FIELDS_MAX_BYTES = 64 * 1024  # every text field together
ENVELOPE_BYTES = 64 * 1024  # boundaries and part headers on top of the file itself


@dataclass
class ReceivedFile:
    path: str
    filename: str | None
    content_type: str | None
    size: int = 0


@dataclass
class Received:
    """The text fields and the file (on disk) of one form; ``discard()`` deletes the file."""

    fields: dict[str, str] = field(default_factory=dict)
    file: ReceivedFile | None = None

    def discard(self) -> None:
        if self.file is not None and os.path.exists(self.file.path):
            os.remove(self.file.path)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the {max_bytes} bytes this server accepts",
        [Problem(("body", "file"), f"more than {max_bytes} bytes", "file.too_large")],
    )


class _Collector:
    """python-multipart callbacks that route each part to a field or to the file."""

    def __init__(self, file_field: str, folder: str, max_bytes: int) -> None:
        self.file_field = file_field
        self.folder = folder
        self.max_bytes = max_bytes
        self.received = Received()
        self.error: Exception | None = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[str, bytes] = {}
        self._name: str | None = None
        self._buffer = bytearray()
        self._out: int | None = None  # fd of the file being written
        self._field_bytes = 0

    def on_part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._buffer = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        raw_name = options.get(b"name")
        self._name = raw_name.decode() if raw_name else None
        if self._name == self.file_field and self.received.file is None:
            raw_filename = options.get(b"filename")
            content_type = self._headers.get("content-type")
            fd, path = tempfile.mkstemp(prefix="upload-", dir=self.folder)
            self._out = fd
            self.received.file = ReceivedFile(
                path=path,
                filename=raw_filename.decode(errors="replace") if raw_filename else None,
                content_type=content_type.decode("latin-1") if content_type else None,
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        chunk = data[start:end]
        if self._out is not None and self.received.file is not None:
            self.received.file.size += len(chunk)
            if self.received.file.size > self.max_bytes:
                self.error = _too_large(self.max_bytes)
                return
            os.write(self._out, chunk)
            return
        self._field_bytes += len(chunk)
        if self._field_bytes > FIELDS_MAX_BYTES:
            self.error = InvalidInput(
                "the form's text fields are too long",
                [Problem(("body",), "text fields over 64 KiB", "form.too_large")],
            )
            return
        self._buffer += chunk

    def on_part_end(self) -> None:
        if self._out is not None:
            os.close(self._out)
            self._out = None
        elif self._name is not None and self._name not in self.received.fields:
            self.received.fields[self._name] = self._buffer.decode("utf-8", errors="replace")

    def close(self) -> None:
        if self._out is not None:
            os.close(self._out)
            self._out = None


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput(
            "send the file as multipart/form-data with the fields 'file' and 'name'",
            [Problem(("body",), "not a multipart/form-data body", "form.content_type")],
        )
    return boundary


async def receive_form(
    request: Request, *, file_field: str, folder: str, max_bytes: int
) -> Received:
    """Stream the form into ``folder``; 413 once the file passes ``max_bytes`` (whatever
    was written is deleted), 422 for a body that is not a form."""
    boundary = _boundary(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FIELDS_MAX_BYTES + ENVELOPE_BYTES:
        raise _too_large(max_bytes)
    collector = _Collector(file_field, folder, max_bytes)
    callbacks = {
        name: getattr(collector, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                if collector.error is not None:
                    raise collector.error
            parser.finalize()
        except FormParserError as err:
            raise InvalidInput(
                "the multipart body could not be parsed",
                [Problem(("body",), str(err), "form.malformed")],
            ) from err
        except ClientDisconnect as err:
            # The client went away (or stopped sending) before the declared body was complete.
            raise InvalidInput(
                "the upload was cut off before the whole body arrived",
                [Problem(("body",), "the body ended early", "form.incomplete")],
            ) from err
    except BaseException:
        collector.close()
        collector.received.discard()
        raise
    collector.close()
    return collector.received
