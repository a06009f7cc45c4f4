"""One knob for the reliability suites: a bounded form in ``make test``, a longer one in
``make stress`` (which sets ``HEADRACE_STRESS=1``)."""

from __future__ import annotations

import os

STRESS = os.environ.get("HEADRACE_STRESS", "") not in ("", "0")


def scaled(bounded: int, stress: int) -> int:
    """How many cases, rows, runs or seconds a suite uses in this mode."""
    return stress if STRESS else bounded
