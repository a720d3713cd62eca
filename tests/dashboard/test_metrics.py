"""Prometheus metrics and machine figures of a real server, after known activity."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Cluster, wait_for


def scrape(cluster: Cluster) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = cluster.request("GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_counters_gauges_and_histograms_follow_activity(cluster: Cluster) -> None:
    labels = (("queue", "metrics"), ("task", "rota.echo"))
    ok = [cluster.submit({"task": "rota.echo", "queue": "metrics", "args": [n]}) for n in range(3)]
    bad = cluster.submit(
        {
            "task": "rota.fail",
            "queue": "metrics",
            "max_attempts": 2,
            "backoff": {"base_s": 0.01, "max_s": 0.01, "jitter": 0.0},
        }
    )
    held = cluster.submit([{"task": "rota.echo", "queue": "idle", "args": [n]} for n in range(4)])
    for job in [*ok, bad]:
        cluster.wait_finished(job["id"])
    assert cluster.job(bad["id"])["state"] == "failed"

    figures = scrape(cluster)
    assert figures[("rota_jobs_submitted_total", labels)] == 3
    assert figures[("rota_jobs_started_total", labels)] == 3
    assert figures[("rota_jobs_succeeded_total", labels)] == 3
    fail_labels = (("queue", "metrics"), ("task", "rota.fail"))
    assert figures[("rota_jobs_retried_total", fail_labels)] == 1
    assert figures[("rota_jobs_failed_total", fail_labels)] == 1
    assert figures[("rota_queue_pending", (("queue", "idle"),))] == len(held)
    assert figures[("rota_queue_oldest_due_age_seconds", (("queue", "idle"),))] > 0
    assert figures[("rota_workers_connected", ())] == 1
    assert figures[("rota_workers_online", ())] == 1
    assert figures[("rota_job_lateness_seconds_count", (("queue", "metrics"),))] == 5
    assert figures[("rota_job_run_seconds_count", labels)] == 3


def test_system_reports_worker_resources_and_totals(cluster: Cluster) -> None:
    data = wait_for(
        lambda: (body := cluster.get("/api/v1/system"))["workers"][0]["resources"] and body,
        what="a heartbeat with resources",
    )
    [worker] = data["workers"]
    assert worker["name"] == "w1"
    assert worker["heartbeat_age_s"] >= 0
    resources = worker["resources"]
    assert resources["memory_total_bytes"] >= resources["memory_used_bytes"] > 0
    # The worker process's own figures ride beside the host's, and are not the host's.
    assert 0 < resources["process_rss_bytes"] < resources["memory_used_bytes"]
    assert "process_cpu_percent" in resources
    for path in ("/api/v1/workers", "/api/v1/workers/w1"):
        body = cluster.get(path)
        shown = body["workers"][0]["resources"] if "workers" in body else body["resources"]
        assert shown["process_rss_bytes"] > 0
    totals = data["totals"]
    assert totals["machines"] == 1
    assert totals["memory_total_bytes"] == resources["memory_total_bytes"]
    assert totals["disk_total_bytes"] == resources["disk_total_bytes"] > 0
    assert totals["gpu_count"] == len(resources["gpus"])
