"""`rota bench`: run the bench's workloads on Rota (and on its peers) and show the tables.

This module only reads the options and prints; the workloads live in rota.bench.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rota.bench.cache import DEFAULT_CACHE
from rota.cli.common import EXIT_FAILURE, error_line
from rota.cli.output import stdout
from rota.errors import RotaError

if TYPE_CHECKING:
    from rota.bench.cluster import StoreChoice
    from rota.bench.results import WorkloadResult

# The workloads (rota.bench's modules) are imported when the command runs, so that `rota
# --help` and the other commands do not load them.

DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
STORES = ("sqlite", "postgres")


def bench(
    workloads: Annotated[
        list[str] | None,
        typer.Argument(
            help="Workloads: throughput, latency, punctuality, recovery, memory, scale, soak "
            "(default: all but soak)."
        ),
    ] = None,
    store: Annotated[
        str, typer.Option(help="Rota's store: sqlite, postgres, or both as a comma list.")
    ] = "sqlite",
    postgres: Annotated[
        str | None,
        typer.Option(
            envvar="ROTA_BENCH_POSTGRES",
            help="PostgreSQL DSN for --store postgres and for procrastinate (a schema or "
            "database of the bench's own is made in it and dropped).",
        ),
    ] = None,
    vs: Annotated[
        str | None,
        typer.Option(
            "--vs",
            help="Peers to run the same workloads on: celery,rq,dramatiq,huey,taskiq,"
            "procrastinate (or all).",
        ),
    ] = None,
    redis: Annotated[
        str,
        typer.Option(
            envvar="ROTA_BENCH_REDIS",
            help="Redis for the peers and for the tasks' round trip; the bench owns (flushes) "
            "this database.",
        ),
    ] = DEFAULT_REDIS,
    task_work: Annotated[
        str,
        typer.Option(
            help="What each task does: noop, redis (one Redis round trip), or auto (redis "
            "when --vs is given)."
        ),
    ] = "auto",
    jobs: Annotated[int, typer.Option(min=1, help="throughput: jobs per phase.")] = 20_000,
    runs: Annotated[int, typer.Option(min=1, help="throughput: runs (median shown).")] = 3,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs each worker runs at once.")] = 8,
    latency_jobs: Annotated[int, typer.Option(min=1, help="latency: jobs.")] = 500,
    rate: Annotated[float, typer.Option(min=0.1, help="latency: submits per second.")] = 50.0,
    punctual_jobs: Annotated[int, typer.Option(min=1, help="punctuality: jobs.")] = 300,
    ahead_min: Annotated[float, typer.Option(min=0.5, help="punctuality: nearest due, s.")] = 3.0,
    ahead_max: Annotated[float, typer.Option(min=0.5, help="punctuality: farthest due, s.")] = 15.0,
    recovery_jobs: Annotated[int, typer.Option(min=2, help="recovery: jobs.")] = 40,
    recovery_seconds: Annotated[
        float, typer.Option(min=0.1, help="recovery: job length, s.")
    ] = 3.0,
    kill_after: Annotated[float, typer.Option(min=0.1, help="recovery: SIGKILL after, s.")] = 4.0,
    memory_jobs: Annotated[
        int | None,
        typer.Option(
            min=2, help="memory: jobs the server runs before its RSS is read (default: --jobs)."
        ),
    ] = None,
    scale_max: Annotated[
        int, typer.Option(min=100, help="scale: the largest fill (finished rows).")
    ] = 10_000_000,
    scale_jobs: Annotated[int, typer.Option(min=1, help="scale: jobs measured per level.")] = 200,
    soak_rate: Annotated[float, typer.Option(min=1, help="soak: jobs per second.")] = 200.0,
    soak_minutes: Annotated[float, typer.Option(min=0.01, help="soak: minutes.")] = 10.0,
    venvs: Annotated[
        Path, typer.Option(help="Where the peers' virtual environments are kept.")
    ] = DEFAULT_CACHE,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write every result to this JSON file.")
    ] = None,
    write_doc: Annotated[
        Path | None,
        typer.Option(help="Write the tables into this Markdown file, between its bench markers."),
    ] = None,
    from_json: Annotated[
        Path | None,
        typer.Option(help="Run nothing: show (and --write-doc) the results of an earlier --json."),
    ] = None,
) -> None:
    """Measure Rota end to end with real processes, and its peers side by side (--vs)."""
    from rota.bench.doc import write_between_markers
    from rota.bench.latency import LatencyParams
    from rota.bench.memory import MemoryParams
    from rota.bench.peer_runner import PeerSetting, parse_peers
    from rota.bench.punctuality import PunctualityParams
    from rota.bench.recovery import RecoveryParams
    from rota.bench.results import BenchError, WorkloadResult
    from rota.bench.scale import ScaleParams
    from rota.bench.soak import SoakParams
    from rota.bench.suite import Plan, machine, parse_workloads, plan_params, run_plan
    from rota.bench.throughput import ThroughputParams

    if from_json is not None:
        saved = json.loads(from_json.read_text())
        results = [WorkloadResult.from_dict(item) for item in saved["results"]]
        _show(results)
        if write_doc is not None:
            write_between_markers(write_doc, _doc_body(results, saved))
        return
    try:
        stores = _stores(store, postgres)
        peers = parse_peers(vs) if vs else []
        if task_work not in ("auto", "noop", "redis"):
            raise BenchError("--task-work is noop, redis or auto")
        with_redis = task_work == "redis" or (task_work == "auto" and bool(peers))
        plan = Plan(
            workloads=parse_workloads(workloads or []),
            stores=stores,
            peers=peers,
            redis_url=redis if with_redis else None,
            peer_setting=PeerSetting(cache=venvs, redis_url=redis, postgres_dsn=postgres),
            throughput=ThroughputParams(
                jobs=jobs, runs=runs, workers=workers, concurrency=concurrency
            ),
            latency=LatencyParams(
                jobs=latency_jobs, rate=rate, workers=workers, concurrency=concurrency
            ),
            punctuality=PunctualityParams(
                jobs=punctual_jobs,
                min_ahead_s=ahead_min,
                max_ahead_s=max(ahead_min, ahead_max),
                workers=workers,
                concurrency=concurrency,
            ),
            recovery=RecoveryParams(
                jobs=recovery_jobs, seconds=recovery_seconds, kill_after_s=kill_after
            ),
            memory=MemoryParams(jobs=memory_jobs or jobs, workers=workers, concurrency=concurrency),
            scale=ScaleParams(max_rows=scale_max, jobs=scale_jobs),
            soak=SoakParams(
                rate=soak_rate, minutes=soak_minutes, workers=workers, concurrency=concurrency
            ),
        )
        context: dict[str, object] = {
            "command": "rota bench " + shlex.join(sys.argv[2:]),
            "machine": machine(),
            "plan": plan_params(plan),
        }
        done: list[WorkloadResult] = []

        def keep(result: WorkloadResult) -> None:
            # Written after each result, so a long run stopped midway keeps what it measured.
            done.append(result)
            if json_file is not None:
                payload = {**context, "results": [item.to_dict() for item in done]}
                json_file.write_text(json.dumps(payload, indent=2) + "\n")

        results = run_plan(plan, on_result=keep)
    except RotaError as exc:
        typer.echo(error_line(str(exc)), err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    _show(results)
    if write_doc is not None:
        write_between_markers(write_doc, _doc_body(results, context))


def _stores(text: str, postgres: str | None) -> list[StoreChoice]:
    from rota.bench.cluster import StoreChoice
    from rota.bench.results import BenchError

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or any(name not in STORES for name in names):
        raise BenchError("--store is sqlite, postgres, or sqlite,postgres")
    if "postgres" in names and not postgres:
        raise BenchError("--store postgres needs --postgres DSN (or ROTA_BENCH_POSTGRES)")
    return [StoreChoice(kind=name, dsn=postgres if name == "postgres" else None) for name in names]


def _show(results: list[WorkloadResult]) -> None:
    from rota.bench import report

    console = stdout()
    console.print(report.rich_table(report.figures_grid(results), "rota bench"))
    ratios = report.ratios_grid(results)
    if ratios is not None:
        console.print(report.rich_table(ratios, "Rota's ratio to each peer (> 1: Rota is better)"))
    for result in results:
        for note in result.notes:
            console.print(f"{result.system}, {result.workload}: {note}")


def _doc_body(results: list[WorkloadResult], context: dict[str, Any]) -> str:
    from rota.bench import report
    from rota.bench.targets import targets_grid

    about = context["machine"]
    assert isinstance(about, dict)
    lines = [
        f"Measured {about['measured_at']} on {about['cpu']} ({about['cores']} cores, "
        f"{about['memory_gib']} GiB), {about['system']}, Python {about['python']}, with:",
        "",
        "```",
        str(context["command"]),
        "```",
        "",
        report.markdown(report.figures_grid(results)),
    ]
    ratios = report.ratios_grid(results)
    if ratios is not None:
        lines += [
            "",
            "Rota's ratio to each peer (> 1: Rota is better):",
            "",
            report.markdown(ratios),
        ]
    lines += [
        "",
        "Issue 10's targets against this run:",
        "",
        report.markdown(targets_grid(results)),
    ]
    notes = [f"- {r.system}, {r.workload}: {note}" for r in results for note in r.notes]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
