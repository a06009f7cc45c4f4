"""What makes the client feel like the SDKs people like: settings from the environment,
errors by kind, retries that honour Retry-After, datasets as Arrow/pandas/Polars, push with
the CLI's diff, progress, and an AsyncClient with the same methods."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from headrace.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    HeadraceApiError,
    HeadraceClientError,
    InvalidInputError,
    MissingExtra,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Retry,
    ServerError,
)
from tests.factories import generated_steps, make_step
from tests.live import Served


@pytest.fixture
def hr(served: Served) -> Client:
    return Client(served.url, served.new_org_key())


def test_client_reads_url_and_key_from_the_environment(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADRACE_URL", served.url)
    monkeypatch.setenv("HEADRACE_API_KEY", served.new_org_key())
    with Client() as hr:
        assert list(hr.list_pipelines()) == []
    monkeypatch.delenv("HEADRACE_API_KEY")
    with pytest.raises(HeadraceClientError, match="set HEADRACE_API_KEY"):
        Client()


def _answering(
    status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> Client:
    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return Client("http://x", "k", retry=Retry(attempts=1), transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, InvalidInputError),
        (429, RateLimitError),
        (500, ServerError),
    ],
)
def test_each_status_raises_its_kind(status: int, kind: type[HeadraceApiError]) -> None:
    body = {"detail": "no", "code": "c", "errors": []}
    with pytest.raises(kind) as err:
        _answering(status, body).get_pipeline("p")
    assert isinstance(err.value, HeadraceApiError)
    assert err.value.status == status


def test_invalid_input_lists_every_problem_in_str_and_problems(hr: Client) -> None:
    steps = [make_step("a", "SELECT * FROM nowhere"), make_step("a", "SELECT 1 AS x")]
    with pytest.raises(InvalidInputError) as err:
        hr.create_pipeline("bad", steps)
    assert len(err.value.problems) >= 2
    for problem in err.value.problems:
        assert problem.msg in str(err.value)
    with pytest.raises(NotFoundError, match="there is no pipeline 'nope'"):
        hr.find_pipeline("nope")


def test_retries_honour_retry_after_and_give_up_on_a_long_one() -> None:
    seen: list[float] = []
    answers = [
        httpx.Response(
            429,
            json={"detail": "slow down", "code": "x", "errors": []},
            headers={"Retry-After": "0"},
        ),
        httpx.Response(200, json=[]),
    ]

    def handle(_: httpx.Request) -> httpx.Response:
        seen.append(1)
        return answers.pop(0)

    client = Client("http://x", "k", retry=Retry(attempts=3), transport=httpx.MockTransport(handle))
    assert list(client.list_keys()) == []  # the 429 was sent again
    assert len(seen) == 2
    body = {"detail": "slow down", "code": "too_many_requests", "errors": []}
    patient = _answering(429, body, {"Retry-After": "120"})
    with pytest.raises(RateLimitError) as err:
        patient.get_pipeline("p")
    assert err.value.retry_after == 120


def test_backoff_is_jittered_and_bounded() -> None:
    retry = Retry(backoff=1.0, max_backoff=4.0)
    delays = [retry.delay(3) for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 1  # not every client waits the same


def test_read_dataset_as_arrow_pandas_and_polars(hr: Client, tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("id,v\n1,a\n2,b\n")
    first = hr.upload_dataset(csv, "t").current_version
    hr.upsert_rows("t", "id", [{"id": 3, "v": "c"}])
    table = hr.read_dataset("t")
    assert isinstance(table, pa.Table)
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3]
    assert hr.read_dataset("t", version=first).num_rows == 2
    assert sorted(hr.read_pandas("t")["v"]) == ["a", "b", "c"]
    assert sorted(hr.read_polars("t", version=first)["v"].to_list()) == ["a", "b"]


def test_a_missing_dataframe_library_names_the_extra(
    hr: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("id\n1\n")
    hr.upload_dataset(csv, "t")
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(MissingExtra, match=r"pip install 'headrace\[pandas\]'"):
        hr.read_pandas("t")
    with pytest.raises(MissingExtra, match=r"pip install 'headrace\[polars\]'"):
        hr.read_polars("t")


def test_push_pipeline_creates_then_adds_a_version_only_on_change(hr: Client) -> None:
    steps = generated_steps()
    first = hr.push_pipeline("pushed", steps)
    assert first.created and first.changes == []
    same = hr.push_pipeline("pushed", steps)
    assert not same.created and same.changes == []
    assert same.pipeline.current_version is not None
    assert same.pipeline.current_version.number == 1
    changed = [dict(s, config={**s["config"]}) for s in steps]
    changed[0]["config"]["query"] = changed[0]["config"]["query"] + " "
    pushed = hr.push_pipeline("pushed", changed)
    assert pushed.changes == [f"~ {steps[0]['name']}: query changed"]
    assert pushed.pipeline.current_version is not None
    assert pushed.pipeline.current_version.number == 2


def test_upload_and_download_report_progress(hr: Client, tmp_path: Path) -> None:
    csv = tmp_path / "big.csv"
    csv.write_text("n\n" + "".join(f"{i}\n" for i in range(50_000)))
    sent: list[tuple[int, int | None]] = []
    made = hr.upload_dataset(csv, "big", progress=lambda done, total: sent.append((done, total)))
    assert sent[-1] == (csv.stat().st_size, csv.stat().st_size)
    assert [d for d, _ in sent] == sorted(d for d, _ in sent)
    got: list[int] = []
    target = hr.download_dataset(
        made.id, tmp_path / "big.out.csv", format="csv", progress=lambda done, _: got.append(done)
    )
    assert got and got[-1] == target.stat().st_size


def test_async_client_has_the_same_methods(served: Served, tmp_path: Path) -> None:
    public = {n for n in dir(Client) if not n.startswith("_")}
    assert public <= {n for n in dir(AsyncClient) if not n.startswith("_")}
    key = served.new_org_key()

    async def use() -> None:
        async with AsyncClient(served.url, key) as hr:
            made = await hr.create_pipeline("a", generated_steps())
            assert (await hr.find_pipeline("a")).id == made.id
            assert [p.name async for p in hr.list_pipelines(page_size=1)] == ["a"]
            run = await hr.wait(await hr.start_run(made.id), timeout=60)
            assert run.status == "Succeeded"
            events = [e.event async for e in hr.events(made.id, run.id)]
            assert events[-1] == "end"
            written = [d.name async for d in hr.list_datasets()]
            assert written
            assert (await hr.read_dataset(written[0])).num_rows > 0
            with pytest.raises(NotFoundError):
                await hr.get_pipeline("00000000-0000-4000-8000-000000000000")

    asyncio.run(use())
