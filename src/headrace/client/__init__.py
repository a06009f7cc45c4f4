"""A typed Python client of the headrace API::

from headrace.client import Client

with Client() as hr:  # HEADRACE_URL, HEADRACE_API_KEY
    pipeline = hr.find_pipeline("shop-analytics")
    run = hr.wait(hr.start_run(pipeline.id), timeout=600)
    orders = hr.read_dataset("orders")  # a pyarrow Table

``AsyncClient`` has the same methods to await. Errors are ``HeadraceApiError`` subclasses by
kind; ``str()`` of one states every problem the server listed.
"""

from headrace.client.aio import AsyncClient
from headrace.client.client import Client, Pushed
from headrace.client.errors import (
    AuthenticationError,
    ConflictError,
    HeadraceApiError,
    HeadraceClientError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServerUnreachable,
)
from headrace.client.frames import MissingExtra
from headrace.client.http import Retry

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "HeadraceApiError",
    "HeadraceClientError",
    "InvalidInputError",
    "MissingExtra",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Pushed",
    "RateLimitError",
    "Retry",
    "ServerError",
    "ServerUnreachable",
]
