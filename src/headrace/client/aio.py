"""``AsyncClient``: every method of ``Client``, to await.

Each call runs the ``Client`` method of the same name on a worker thread
(``asyncio.to_thread``), so the requests, retries, errors and parsing are the synchronous
client's own, not a second copy to keep in step, and the event loop never blocks on the
network. Listing methods and ``events`` become async iterators, each page or event fetched on
a worker thread. Suited to an asyncio application making a moderate number of calls at once
(each in-flight call holds a thread of the default executor); the methods are listed below
one per line so that their signatures and types are the ``Client``'s.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from headrace.client.client import Client
from headrace.client.http import Retry

P = ParamSpec("P")
T = TypeVar("T")

_END = object()


def _awaitable(
    method: Callable[Concatenate[Client, P], T],
) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    async def call(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, self.sync, *args, **kwargs)

    functools.update_wrapper(call, method)  # its name, docstring and signature
    return call


def _async_iterator(
    method: Callable[Concatenate[Client, P], Iterator[T]],
) -> Callable[Concatenate[AsyncClient, P], AsyncIterator[T]]:
    async def iterate(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        items = method(self.sync, *args, **kwargs)
        while (item := await asyncio.to_thread(next, items, _END)) is not _END:
            yield item  # type: ignore[misc]

    functools.update_wrapper(iterate, method)
    return iterate


class AsyncClient:
    """An asynchronous client of one headrace server, as one API key: ``Client``'s
    methods, awaitable (``async with AsyncClient() as hr: await hr.get_pipeline(...)``)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: Retry | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.sync = Client(base_url, api_key, timeout=timeout, retry=retry, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        await self.close()

    close = _awaitable(Client.close)
    health = _awaitable(Client.health)
    # API keys
    create_key = _awaitable(Client.create_key)
    list_keys = _async_iterator(Client.list_keys)
    revoke_key = _awaitable(Client.revoke_key)
    # Webhooks
    create_webhook = _awaitable(Client.create_webhook)
    list_webhooks = _async_iterator(Client.list_webhooks)
    delete_webhook = _awaitable(Client.delete_webhook)
    list_deliveries = _async_iterator(Client.list_deliveries)
    # Datasets
    upload_dataset = _awaitable(Client.upload_dataset)
    upsert_rows = _awaitable(Client.upsert_rows)
    list_datasets = _async_iterator(Client.list_datasets)
    get_dataset = _awaitable(Client.get_dataset)
    find_dataset = _awaitable(Client.find_dataset)
    dataset_rows = _awaitable(Client.dataset_rows)
    download_dataset = _awaitable(Client.download_dataset)
    read_dataset = _awaitable(Client.read_dataset)
    read_pandas = _awaitable(Client.read_pandas)
    read_polars = _awaitable(Client.read_polars)
    delete_dataset = _awaitable(Client.delete_dataset)
    # Pipelines and versions
    create_pipeline = _awaitable(Client.create_pipeline)
    push_pipeline = _awaitable(Client.push_pipeline)
    list_pipelines = _async_iterator(Client.list_pipelines)
    get_pipeline = _awaitable(Client.get_pipeline)
    find_pipeline = _awaitable(Client.find_pipeline)
    update_pipeline = _awaitable(Client.update_pipeline)
    delete_pipeline = _awaitable(Client.delete_pipeline)
    create_version = _awaitable(Client.create_version)
    list_versions = _async_iterator(Client.list_versions)
    get_version = _awaitable(Client.get_version)
    diff_proposed = _awaitable(Client.diff_proposed)
    # Schedules and dataset triggers
    create_schedule = _awaitable(Client.create_schedule)
    list_schedules = _awaitable(Client.list_schedules)
    update_schedule = _awaitable(Client.update_schedule)
    delete_schedule = _awaitable(Client.delete_schedule)
    create_trigger = _awaitable(Client.create_trigger)
    list_triggers = _awaitable(Client.list_triggers)
    delete_trigger = _awaitable(Client.delete_trigger)
    # Runs
    start_run = _awaitable(Client.start_run)
    plan_run = _awaitable(Client.plan_run)
    list_runs = _async_iterator(Client.list_runs)
    get_run = _awaitable(Client.get_run)
    cancel_run = _awaitable(Client.cancel_run)
    retry_run = _awaitable(Client.retry_run)
    step_logs = _awaitable(Client.step_logs)
    wait = _awaitable(Client.wait)
    events = _async_iterator(Client.events)
