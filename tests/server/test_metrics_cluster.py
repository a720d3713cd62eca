"""What Prometheus needs from every server: cluster gauges that say to take max(), empty
queues that read 0, no series for queues nobody uses, process and build figures."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from rota.server.metrics import MAX_QUEUE_LABELS, OTHER_LABEL
from tests.server.conftest import StartServer
from tests.server.test_api_submit import JOBS

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: httpx.AsyncClient) -> tuple[Figures, dict[str, str]]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    families = list(text_string_to_metric_families(response.text))
    figures = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }
    return figures, {family.name: family.documentation for family in families}


async def test_empty_queues_read_zero_and_unused_ones_disappear(start_server: StartServer) -> None:
    server = await start_server()
    await server.worker("w1", queues=["mail"])
    invented = (await server.http.post(JOBS, json={"task": "rota.echo", "queue": "typo"})).json()
    figures, _ = await scrape(server.http)
    assert figures[("rota_queue_due", (("queue", "typo"),))] == 1
    for queue in ("default", "mail"):
        assert figures[("rota_queue_due", (("queue", queue),))] == 0
        assert figures[("rota_queue_pending", (("queue", queue),))] == 0
        assert figures[("rota_queue_running", (("queue", queue),))] == 0

    await server.http.delete(f"{JOBS}/{invented['id']}")
    figures, _ = await scrape(server.http)
    assert not [key for key in figures if ("queue", "typo") in key[1] and "queue_" in key[0]]
    assert figures[("rota_queue_due", (("queue", "mail"),))] == 0


async def test_cluster_gauges_say_to_take_the_max_and_process_figures_are_there(
    start_server: StartServer,
) -> None:
    server = await start_server()
    figures, help_texts = await scrape(server.http)
    for name in ("rota_queue_due", "rota_queue_pending", "rota_workers_online"):
        assert "max()" in help_texts[name], name
    assert "sum" in help_texts["rota_workers_connected"]
    assert any(name == "process_resident_memory_bytes" for name, _ in figures)
    build = [labels for name, labels in figures if name == "rota_build_info"]
    assert build and dict(build[0])["version"]


async def test_invented_queue_names_cannot_grow_the_counters_without_bound(
    start_server: StartServer,
) -> None:
    server = await start_server()
    invented = MAX_QUEUE_LABELS + 50
    batch = [{"task": "rota.echo", "queue": f"q{n}"} for n in range(invented)]
    assert (await server.http.post(JOBS, json=batch)).status_code == 201
    figures, _ = await scrape(server.http)
    submitted = {
        dict(labels)["queue"]: value
        for (name, labels), value in figures.items()
        if name == "rota_jobs_submitted_total"
    }
    assert len(submitted) == MAX_QUEUE_LABELS + 1
    assert submitted[OTHER_LABEL] == 50
    assert sum(submitted.values()) == invented  # nothing goes uncounted


async def test_a_bulk_is_counted_by_queue_and_task(start_server: StartServer) -> None:
    server = await start_server()
    batch = [{"task": "rota.echo", "queue": "a"}] * 3 + [
        {"task": "rota.echo", "queue": "b"},
        {"task": "rota.sleep", "queue": "a", "args": [0]},
        {"task": "rota.echo", "queue": "a"},
    ]
    assert (await server.http.post(JOBS, json=batch)).status_code == 201
    figures, _ = await scrape(server.http)
    submitted = {
        (dict(labels)["queue"], dict(labels)["task"]): value
        for (name, labels), value in figures.items()
        if name == "rota_jobs_submitted_total"
    }
    assert submitted == {("a", "rota.echo"): 4, ("b", "rota.echo"): 1, ("a", "rota.sleep"): 1}
