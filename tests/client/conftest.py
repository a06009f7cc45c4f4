"""Client tests run against a real ``headrace serve``."""

from tests.live import served

__all__ = ["served"]
