"""The one cache class: bounded by count or by size, least recently used out first, entries
expiring after their time when asked to."""

from __future__ import annotations

from headrace.caching import Cache


def test_the_least_recently_used_goes_first() -> None:
    cache: Cache[str, int] = Cache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now b is the least recently used
    cache.put("c", 3)
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "c": 3}


def test_a_size_bound_counts_sizes_and_refuses_what_is_larger_than_all() -> None:
    cache: Cache[str, bytes] = Cache(10, sizeof=len)
    cache.put("a", b"123456")
    cache.put("b", b"1234")
    cache.put("c", b"12")  # 12 bytes: a goes
    assert sorted(k for k, _ in cache.items()) == ["b", "c"]
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None and len(cache) == 2


def test_entries_expire_after_their_time() -> None:
    now = [0.0]
    cache: Cache[str, int] = Cache(10, ttl=5, timer=lambda: now[0])
    cache.put("a", 1)
    now[0] = 4.9
    assert cache.get("a") == 1
    now[0] = 5.0
    assert cache.get("a") is None
    nothing: Cache[str, int] = Cache(10, ttl=0)
    nothing.put("a", 1)
    assert nothing.get("a") is None
