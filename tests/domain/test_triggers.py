"""Dataset triggers: loops found and named, debounce windows, any and all."""

from __future__ import annotations

import datetime as dt

from headrace.domain.triggers import check, describe_loop, evaluate, find_loop

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TEN = dt.timedelta(seconds=10)


def test_a_pipeline_triggered_by_its_own_output_is_a_loop() -> None:
    loop = find_loop({"p": {"x"}}, {"p": {"x"}})
    assert loop == [("p", "x")]
    assert describe_loop(loop) == "pipeline 'p' writes 'x', which triggers 'p'"


def test_a_loop_through_other_pipelines_is_named_whole() -> None:
    writes = {"a": {"x"}, "b": {"y"}, "c": {"z"}, "d": {"w"}}
    triggered = {"b": {"x"}, "c": {"y"}, "a": {"z"}, "d": {"x"}}
    loop = find_loop(writes, triggered)
    assert loop == [("a", "x"), ("b", "y"), ("c", "z")]
    assert "pipeline 'c' writes 'z', which triggers 'a'" in describe_loop(loop)


def test_a_chain_or_a_diamond_is_no_loop() -> None:
    writes = {"a": {"x"}, "b": {"y"}, "c": {"y2"}, "d": {"out"}}
    triggered = {"b": {"x"}, "c": {"x"}, "d": {"y", "y2"}}
    assert find_loop(writes, triggered) is None


def test_any_fires_once_the_window_has_lasted_the_debounce() -> None:
    consumed = {"a": 1, "b": 1}
    opened = evaluate(["a", "b"], "any", TEN, consumed, {"a": 2, "b": 1}, None, T0)
    assert opened.start is None and opened.pending_since == T0
    waiting = evaluate(["a", "b"], "any", TEN, consumed, {"a": 3, "b": 1}, T0, T0 + TEN / 2)
    assert waiting.start is None and waiting.pending_since == T0
    fired = evaluate(["a", "b"], "any", TEN, consumed, {"a": 3, "b": 1}, T0, T0 + TEN)
    assert fired.start == {"a": 3} and fired.pending_since is None
    nothing = evaluate(["a", "b"], "any", TEN, {"a": 3, "b": 1}, {"a": 3, "b": 1}, None, T0)
    assert nothing.start is None and nothing.pending_since is None


def test_all_waits_for_every_dataset() -> None:
    consumed = {"a": 1, "b": None}
    one = evaluate(["a", "b"], "all", TEN * 0, consumed, {"a": 2}, None, T0)
    assert one.start is None and one.pending_since is None
    both = evaluate(["a", "b"], "all", TEN * 0, consumed, {"a": 2, "b": 0}, None, T0)
    assert both.start == {"a": 2, "b": 0}


def test_every_bad_field_is_listed() -> None:
    problems = check(["ok", "no/slash", "ok"], "some", -1, ("body",))
    assert {(p.loc, p.type) for p in problems} == {
        (("body", "datasets", 1), "trigger.name"),
        (("body", "datasets"), "trigger.duplicate"),
        (("body", "mode"), "trigger.bad_mode"),
        (("body", "debounce_seconds"), "trigger.bad_debounce"),
    }
    assert [p.type for p in check([], "any", 10, ())] == ["trigger.empty"]
