"""The allowlist of hosts rota.http may call (rota.tasks.hosts)."""

from __future__ import annotations

import pytest

from rota.errors import InvalidInput
from rota.tasks.hosts import HostAllowlist


def test_an_empty_list_allows_nothing() -> None:
    hosts = HostAllowlist.parse([])
    assert not hosts
    assert not hosts.allows("example.com")
    assert not hosts.allows("127.0.0.1")


def test_names_match_exactly_whatever_their_case_and_trailing_dot() -> None:
    hosts = HostAllowlist.parse(["API.example.com"])
    assert hosts.allows("api.example.com")
    assert hosts.allows("Api.Example.Com.")
    assert not hosts.allows("example.com")
    assert not hosts.allows("evil.api.example.com")
    assert not hosts.allows("api.example.com.evil.net")


def test_a_wildcard_covers_subdomains_only() -> None:
    hosts = HostAllowlist.parse(["*.example.com"])
    assert hosts.allows("a.example.com")
    assert hosts.allows("a.b.example.com")
    assert not hosts.allows("example.com")
    assert not hosts.allows("badexample.com")
    assert not hosts.allows("example.com.evil.net")


def test_loopback_and_localhost_need_naming() -> None:
    hosts = HostAllowlist.parse(["*.example.com", "example.com"])
    for host in ("localhost", "127.0.0.1", "::1", "[::1]", "127.1", "0.0.0.0", "2130706433"):
        assert not hosts.allows(host), host
    assert HostAllowlist.parse(["localhost"]).allows("LOCALHOST")
    assert not HostAllowlist.parse(["localhost"]).allows("127.0.0.1")


def test_ip_addresses_match_in_any_spelling_of_the_same_address() -> None:
    hosts = HostAllowlist.parse(["10.0.0.5", "[::1]"])
    assert hosts.allows("10.0.0.5")
    assert hosts.allows("::1")
    assert hosts.allows("[0:0:0:0:0:0:0:1]")
    assert not hosts.allows("10.0.0.6")


def test_a_star_allows_every_host() -> None:
    assert HostAllowlist.parse(["*"]).allows("127.0.0.1")


@pytest.mark.parametrize(
    "entry",
    [
        "example.com:8080",
        "http://example.com",
        "example.com/path",
        "*example.com",
        "a.*.example.com",
        "*.0.0.1",
        "*.1",
        "",
        "exa mple.com",
    ],
)
def test_entries_that_are_not_hosts_are_refused(entry: str) -> None:
    with pytest.raises(InvalidInput, match="--allow-http entry"):
        HostAllowlist.parse([entry])
