"""The one source of "now" for the services (UTC, aware)."""

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
