"""A typed Python client of the headrace API::

from headrace.client import Client

with Client("http://127.0.0.1:8000", api_key) as hr:
    pipeline = hr.find_pipeline("shop-analytics")
    run = hr.wait(hr.start_run(pipeline.id), timeout=600)
"""

from headrace.client.client import Client
from headrace.client.errors import HeadraceApiError, HeadraceClientError, ServerUnreachable
from headrace.client.http import Retry

__all__ = ["Client", "HeadraceApiError", "HeadraceClientError", "Retry", "ServerUnreachable"]
