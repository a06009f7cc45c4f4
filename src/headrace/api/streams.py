"""A cap on the event streams one API key holds open at once in this process.

Each open stream polls the metadata store and holds a connection for as long as its run
lasts, so one key opening thousands would take the server's connections and its store's
time from everyone. Past the cap (``HEADRACE_MAX_STREAMS_PER_KEY``) a new stream is a 429 until
one of the key's streams ends. Counted per API process: with ``serve --workers N`` a key may
hold up to N times the cap.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator

from headrace.errors import TooManyRequests


class StreamLease:
    """One open stream of one key; ``end()`` gives its place back, once however often it is
    called (the stream's end and the response's background task both call it)."""

    def __init__(self, slots: StreamSlots, key_id: uuid.UUID) -> None:
        self._slots = slots
        self._key_id = key_id
        self._ended = False

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._slots._give_back(self._key_id)

    async def hold(self, stream: AsyncIterator[str]) -> AsyncIterator[str]:
        """``stream``, ending the lease when it ends or its client goes."""
        try:
            async for text in stream:
                yield text
        finally:
            self.end()


class StreamSlots:
    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._lock = threading.Lock()
        self._open: Counter[uuid.UUID] = Counter()

    def take(self, key_id: uuid.UUID) -> StreamLease:
        """A lease on one more stream for ``key_id``; 429 when it holds ``per_key`` already
        (0: no cap)."""
        with self._lock:
            if self.per_key and self._open[key_id] >= self.per_key:
                raise TooManyRequests(
                    f"this API key has {self._open[key_id]} event streams open, the most this "
                    "server allows; close one first"
                )
            self._open[key_id] += 1
        return StreamLease(self, key_id)

    def open_for(self, key_id: uuid.UUID) -> int:
        with self._lock:
            return self._open[key_id]

    def _give_back(self, key_id: uuid.UUID) -> None:
        with self._lock:
            self._open[key_id] -= 1
            if self._open[key_id] <= 0:
                del self._open[key_id]
