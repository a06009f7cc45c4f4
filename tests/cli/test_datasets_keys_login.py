"""``headrace datasets …``, ``keys …`` and ``login`` in-process against a real server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.cli.conftest import Cli, one_line_error


def _csv(folder: Path) -> Path:
    path = folder / "cities.csv"
    path.write_text("id,city,people\n1,Lyon,522\n2,Porto,232\n3,Graz,291\n")
    return path


def test_upload_list_show_head_download(cli: Cli) -> None:
    uploaded = cli("datasets", "upload", str(_csv(cli.folder)), "--name", "cities")
    assert uploaded.exit_code == 0, uploaded.output
    assert "cities: version" in uploaded.stdout and "3 rows" in uploaded.stdout
    again = json.loads(
        cli("datasets", "upload", str(_csv(cli.folder)), "--name", "cities", "--json").stdout
    )
    assert again["row_count"] == 3
    listed = cli("datasets", "list")
    assert "cities" in listed.stdout
    [dataset] = json.loads(cli("datasets", "list", "--json").stdout)
    shown = cli("datasets", "show", "cities")
    assert shown.exit_code == 0 and "people" in shown.stdout and "upload" in shown.stdout
    detail = json.loads(cli("datasets", "show", dataset["id"], "--json").stdout)
    assert len(detail["versions"]) == 2
    head = cli("datasets", "head", "cities", "-n", "2")
    assert "Lyon" in head.stdout and "Graz" not in head.stdout
    rows = json.loads(cli("datasets", "head", "cities", "--json").stdout)
    assert [r["city"] for r in rows] == ["Lyon", "Porto", "Graz"]
    target = cli.folder / "out.csv"
    down = cli("datasets", "download", "cities", "-o", str(target), "--format", "csv")
    assert down.exit_code == 0, down.output
    assert target.read_text().splitlines()[1:] == ["1,Lyon,522", "2,Porto,232", "3,Graz,291"]
    parquet = cli.folder / "cities.parquet"
    assert cli("datasets", "download", "cities", "-o", str(parquet)).exit_code == 0
    assert parquet.read_bytes()[:4] == b"PAR1"
    missing = cli("datasets", "upload", str(cli.folder / "nope.csv"), "--name", "x")
    assert "no such file" in one_line_error(missing)
    unknown = cli("datasets", "show", "nope")
    assert "there is no dataset 'nope'" in one_line_error(unknown)


def test_keys_create_list_revoke(cli: Cli) -> None:
    made = json.loads(cli("keys", "create", "ci", "--role", "builder", "--json").stdout)
    assert made["role"] == "builder" and made["api_key"].startswith("hr_")
    listed = cli("keys", "list")
    assert "ci" in listed.stdout and made["key_prefix"] in listed.stdout
    assert made["api_key"] not in listed.stdout
    as_builder = cli("pipelines", "list", HEADRACE_API_KEY=made["api_key"])
    assert as_builder.exit_code == 0
    assert "needs a key with the admin role" in one_line_error(
        cli("keys", "list", HEADRACE_API_KEY=made["api_key"])
    )
    revoked = cli("keys", "revoke", made["id"])
    assert revoked.exit_code == 0 and made["id"] in revoked.stdout
    after = one_line_error(cli("pipelines", "list", HEADRACE_API_KEY=made["api_key"]))
    assert "the API key is not valid" in after and "[401 unauthorized]" in after
    assert "--role must be one of" in one_line_error(cli("keys", "create", "x", "--role", "god"))


def test_login_stores_the_key_for_its_owner_only(cli: Cli) -> None:
    url, key = cli.env["HEADRACE_URL"], cli.env["HEADRACE_API_KEY"]
    logged = cli("login", "--url", url, "--api-key", key, HEADRACE_URL="", HEADRACE_API_KEY="")
    assert logged.exit_code == 0, logged.output
    path = Path(cli.env["XDG_CONFIG_HOME"]) / "headrace" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": url, "api_key": key}
    stored = cli("pipelines", "list", HEADRACE_URL="", HEADRACE_API_KEY="")
    assert stored.exit_code == 0, stored.output
    overridden = cli("pipelines", "list", HEADRACE_API_KEY="hr_wrong")
    assert "[401 unauthorized]" in one_line_error(overridden)
    wrong = cli("login", "--url", url, "--api-key", "hr_wrong")
    assert "the API key is not valid" in one_line_error(wrong)
    assert json.loads(path.read_text())["api_key"] == key
