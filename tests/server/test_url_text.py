"""A path or query that holds text no store can look up is one 422 naming the parameter."""

from __future__ import annotations

import httpx
import pytest

from rota.server.url_text import url_problem


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("/api/v1/jobs/%00", "path: "),
        ("/api/v1/jobs?q=%00", "query parameter 'q': "),
        ("/api/v1/jobs?queue=a%00b", "query parameter 'queue': "),
        ("/api/v1/jobs?q=%ed%a0%80", "query parameter 'q': "),
        ("/api/v1/jobs?q=%ff", "query parameter 'q': "),
        ("/api/v1/schedules/a%00", "path: "),
        ("/api/v1/jobs/%ff", "path: "),
        ("/api/v1/schedules/a%ed%a0%80", "path: "),
        ("/api/v1/workers/%c3", "path: "),
        ("/api/v1/jobs?%00=1", "query parameter a query parameter's name: "),
    ],
)
async def test_a_nul_or_undecodable_text_in_the_url_is_a_422_naming_where(
    client: httpx.AsyncClient, url: str, named: str
) -> None:
    for method in ("GET", "DELETE"):
        response = await client.request(method, url)
        assert response.status_code == 422, (method, url, response.text)
        error = response.json()["error"]
        assert error["type"] == "InvalidInput"
        assert error["message"].startswith(named), error["message"]


async def test_ordinary_urls_pass(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/jobs?q=caf%C3%A9&limit=5")).status_code == 200
    assert (await client.get("/api/v1/jobs/nosuch")).status_code == 404
    assert (await client.get("/api/v1/jobs/%EF%BF%BD")).status_code == 404  # U+FFFD itself


def test_url_problem_reads_plain_queries_without_decoding() -> None:
    assert url_problem("/api/v1/jobs", b"state=running&limit=10") is None
    assert url_problem("/api/v1/jobs", b"q=%E2%9C%93") is None
