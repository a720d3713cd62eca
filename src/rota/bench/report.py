"""Tables of bench results: one column per system, one row per figure, and Rota's ratios.

The same grid is shown as a rich table in the terminal and as Markdown in the docs.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from rota.bench.metrics import ALL_WORKLOADS, metric
from rota.bench.results import Figure, Metric, WorkloadResult, ratio

DASH = "\u2013"
TIMES = "\u00d7"


@dataclass(frozen=True, kw_only=True, slots=True)
class Grid:
    """Rows of text cells under a header; the first cell of each row names the figure."""

    header: list[str]
    rows: list[list[str]]


def rows_of(results: list[WorkloadResult]) -> list[tuple[str, Metric]]:
    """Return (workload, metric) of each row, in workload order, then the metrics' order."""
    seen: list[tuple[str, Metric]] = []
    keys: set[tuple[str, str]] = set()
    for workload in ALL_WORKLOADS:
        for result in results:
            if result.workload != workload:
                continue
            for key in result.figures:
                if (workload, key) not in keys:
                    keys.add((workload, key))
                    seen.append((workload, metric(workload, key)))
    order = {name: index for index, name in enumerate(ALL_WORKLOADS)}
    listed = {workload: [m.key for m in _listed(workload)] for workload in ALL_WORKLOADS}

    def place(item: tuple[str, Metric]) -> tuple[int, int]:
        workload, known = item
        keys_in_order = listed[workload]
        rank = keys_in_order.index(known.key) if known.key in keys_in_order else len(keys_in_order)
        return order[workload], rank

    return sorted(seen, key=place)


def systems_of(results: list[WorkloadResult]) -> list[str]:
    """Return the systems in the order they first appear: Rota's stores, then the peers."""
    names: list[str] = []
    for result in results:
        if result.system not in names:
            names.append(result.system)
    return sorted(names, key=lambda name: (not name.startswith("rota"), names.index(name)))


def figures_grid(results: list[WorkloadResult]) -> Grid:
    """Return the grid of every figure of every system."""
    systems = systems_of(results)
    by = {(r.workload, r.system): r for r in results}
    rows = []
    for workload, known in rows_of(results):
        row = [f"{workload}: {known.label}"]
        for system in systems:
            found = by.get((workload, system))
            figure = found.figures.get(known.key) if found else None
            row.append(cell(figure, known) if found else "")
        rows.append(row)
    return Grid(header=["", *systems], rows=rows)


def ratios_grid(results: list[WorkloadResult]) -> Grid | None:
    """Return how many times better each Rota store is than each peer (> 1: Rota is better).

    None when there is no peer in the results.
    """
    systems = systems_of(results)
    rotas = [name for name in systems if name.startswith("rota")]
    peers = [name for name in systems if not name.startswith("rota")]
    if not rotas or not peers:
        return None
    by = {(r.workload, r.system): r for r in results}
    header = [""] + [f"{rota} ÷ {peer}" for peer in peers for rota in rotas]
    rows = []
    for workload, known in rows_of(results):
        if not known.compared:
            continue
        row = [f"{workload}: {known.label}"]
        for peer in peers:
            for rota in rotas:
                mine, theirs = by.get((workload, rota)), by.get((workload, peer))
                value = ratio(
                    _value(mine, known.key),
                    _value(theirs, known.key),
                    higher_is_better=known.higher_is_better,
                )
                row.append("" if value is None else f"{value:.2f}{TIMES}")
        if any(row[1:]):
            rows.append(row)
    return Grid(header=header, rows=rows)


def cell(figure: Figure | None, known: Metric) -> str:
    """Return a figure as text: the median, and the spread of the runs when there are some."""
    if figure is None or figure.value is None:
        return DASH
    text = _number(figure.value, known.digits)
    if len(figure.runs) > 1 and figure.low is not None and figure.high is not None:
        text += f" ({_number(figure.low, known.digits)}{DASH}{_number(figure.high, known.digits)})"
    return text


def rich_table(grid: Grid, title: str) -> Table:
    """Return the grid as a rich table."""
    table = Table(title=title)
    for index, name in enumerate(grid.header):
        table.add_column(name, justify="left" if index == 0 else "right")
    for row in grid.rows:
        table.add_row(*row)
    return table


def markdown(grid: Grid) -> str:
    """Return the grid as a Markdown table."""
    lines = [
        "| " + " | ".join(grid.header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(grid.header) - 1)) + "|",
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in grid.rows)
    return "\n".join(lines)


def _value(result: WorkloadResult | None, key: str) -> float | None:
    if result is None:
        return None
    figure = result.figures.get(key)
    return None if figure is None else figure.value


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def _listed(workload: str) -> tuple[Metric, ...]:
    from rota.bench.metrics import WORKLOADS

    return WORKLOADS.get(workload, ())
