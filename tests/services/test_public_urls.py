"""Webhook targets: a URL is bound to the address that was checked, the name kept for the
Host header and TLS; names and addresses that are not public are refused."""

from __future__ import annotations

import pytest

from headrace.services.public_urls import Refused, pin, problems


def test_a_url_is_pinned_to_its_checked_address() -> None:
    https = pin("https://1.1.1.1:8443/hooks?x=1", allow_private=False)
    assert (https.url, https.host, https.server_name) == (
        "https://1.1.1.1:8443/hooks?x=1",
        "1.1.1.1:8443",
        "1.1.1.1",
    )
    local = pin("http://localhost:8080/in", allow_private=True)
    assert local.url in ("http://127.0.0.1:8080/in", "http://[::1]:8080/in")
    assert local.host == "localhost:8080"
    assert local.server_name is None
    v6 = pin("https://[2606:4700:4700::1111]/h", allow_private=False)
    assert v6.url == "https://[2606:4700:4700::1111]/h"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://localhost/", "not a public address"),
        ("http://[fe80::1]/", "not a public address"),
        ("http://[fc00::1]/", "not a public address"),
        ("http://224.0.0.1/", "not a public address"),
        ("http://[::ffff:10.0.0.1]/", "not a public address"),
        ("gopher://1.1.1.1/", "http:// or https://"),
        ("https://a:b@1.1.1.1/", "user name or password"),
        ("https://1.1.1.1:99999/", "not a valid URL"),
        ("https://host.invalid/", "does not resolve"),
        ("https://", "has no host"),
        ("https://1.1.1.1/" + "x" * 3000, "longer than"),
    ],
)
def test_refused_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(Refused, match=why):
        pin(url, allow_private=False)
    [problem] = problems(url, False, ("body", "url"))
    assert why in problem.msg and problem.loc == ("body", "url")
