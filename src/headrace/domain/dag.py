"""The step graph of a pipeline version: edges follow dataset names, writer → reader."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from headrace.domain.pipeline import Step


@dataclass(frozen=True)
class Dag:
    """Steps in version order with the steps each depends on (its inputs' writers)."""

    steps: tuple[Step, ...]
    upstream: dict[str, tuple[str, ...]]
    downstream: dict[str, tuple[str, ...]]
    writer_of: dict[str, str]
    by_name: dict[str, Step]

    @classmethod
    def build(cls, steps: Sequence[Step]) -> Dag:
        """Build the graph; the first writer of a dataset wins (validation reports the rest)."""
        writer_of: dict[str, str] = {}
        for step in steps:
            for out in step.config.output_datasets:
                writer_of.setdefault(out, step.name)
        upstream: dict[str, tuple[str, ...]] = {}
        downstream: dict[str, list[str]] = {s.name: [] for s in steps}
        for step in steps:
            ups: dict[str, None] = {}  # an ordered set: a step may read thousands of datasets
            for inp in step.config.input_datasets:
                writer = writer_of.get(inp)
                if writer is not None and writer != step.name:
                    ups.setdefault(writer)
            upstream[step.name] = tuple(ups)
            for up in ups:
                downstream[up].append(step.name)
        return cls(
            steps=tuple(steps),
            upstream=upstream,
            downstream={k: tuple(v) for k, v in downstream.items()},
            writer_of=writer_of,
            by_name={s.name: s for s in steps},
        )

    def cycle(self) -> list[str] | None:
        """The steps of one cycle in dependency order, or None when the graph is acyclic.

        Iterative depth-first search, so a 10,000-step chain does not hit the recursion limit.
        """
        done: set[str] = set()
        for root in self.steps:
            if root.name in done:
                continue
            path: list[str] = [root.name]
            on_path = {root.name}
            iters = [iter(self.upstream[root.name])]
            while iters:
                up = next(iters[-1], None)
                if up is None:
                    finished = path.pop()
                    on_path.discard(finished)
                    done.add(finished)
                    iters.pop()
                elif up in on_path:
                    return list(reversed(path[path.index(up) :]))
                elif up not in done:
                    path.append(up)
                    on_path.add(up)
                    iters.append(iter(self.upstream[up]))
        return None

    def topological_order(self) -> list[str]:
        """Step names so that every step comes after its upstream steps; ties keep version order."""
        position = {s.name: i for i, s in enumerate(self.steps)}
        remaining = {name: len(ups) for name, ups in self.upstream.items()}
        ready = [position[n] for n, c in remaining.items() if c == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = self.steps[heapq.heappop(ready)].name
            order.append(name)
            for down in self.downstream[name]:
                remaining[down] -= 1
                if remaining[down] == 0:
                    heapq.heappush(ready, position[down])
        if len(order) != len(self.steps):
            raise ValueError("the step graph has a cycle")
        return order

    def descendants(self, name: str) -> set[str]:
        """``name`` and every step downstream of it."""
        return self._closure(name, self.downstream)

    def ancestors(self, name: str) -> set[str]:
        """``name`` and every step upstream of it."""
        return self._closure(name, self.upstream)

    @staticmethod
    def _closure(start: str, edges: dict[str, tuple[str, ...]]) -> set[str]:
        seen = {start}
        stack = [start]
        while stack:
            for nxt in edges[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen
