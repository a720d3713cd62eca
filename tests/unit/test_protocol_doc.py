"""docs/protocol.md lists every message of the protocol with its fields: this test holds the
tables to the message classes (names, fields, which side sends what, the version), so the
contract a worker in another language follows cannot drift from the code."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest

from rota.jobs import Lease
from rota.protocol import PROTOCOL_VERSION, JobOrder, LogLine, closing, messages
from rota.protocol.messages import (
    ALONE,
    FROM_SERVER,
    FROM_WORKER,
    Batch,
    ServerMessage,
    WorkerMessage,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
PARTS: dict[str, type] = {"lease": Lease, "log line": LogLine, "job order": JobOrder}


def table(heading: str) -> dict[str, set[str]]:
    """Return the rows of the table under a `## heading`: first cell -> the field names the
    second cell lists at its top level (nested words in brackets and parentheses left out)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("type", "part") or set(cells[0]) <= {"-"}:
            continue
        fields = cells[1]
        while True:  # innermost first, so nesting of any depth goes
            shorter = re.sub(r"\([^()\[\]]*\)|\[[^()\[\]]*\]", "", fields)
            if shorter == fields:
                break
            fields = shorter
        rows[cells[0].strip("`")] = set(re.findall(r"`([a-z_]+)`", fields))
    return rows


def fields_of(cls: type) -> set[str]:
    return {field.name for field in dataclasses.fields(cls)}


@pytest.mark.parametrize(
    ("heading", "classes"),
    [("Messages from the worker", FROM_WORKER), ("Messages from the server", FROM_SERVER)],
)
def test_each_side_s_table_lists_its_messages_and_their_fields(
    heading: str, classes: tuple[type, ...]
) -> None:
    documented = table(heading)
    in_code = {cls.TYPE: fields_of(cls) for cls in classes}  # type: ignore[attr-defined]
    assert documented == in_code


def test_every_message_class_is_one_side_s_and_in_the_doc() -> None:
    """A message class the codec does not know of (in neither side's list) would be
    undocumented and undecodable: every class with a frame type is on a side's list, and
    the type aliases the server and the worker handle name the same classes."""
    declared = {
        cls
        for _, cls in inspect.getmembers(messages, inspect.isclass)
        if cls.__module__ == messages.__name__ and "TYPE" in vars(cls)
    }
    assert declared == set(FROM_WORKER) | set(FROM_SERVER)
    assert set(typing.get_args(WorkerMessage)) == set(FROM_WORKER) - {Batch}
    assert set(typing.get_args(ServerMessage)) == set(FROM_SERVER) - {Batch}
    documented = set(table("Messages from the worker")) | set(table("Messages from the server"))
    assert documented == {cls.TYPE for cls in declared}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("heading", "classes"),
    [("Messages from the worker", FROM_WORKER), ("Messages from the server", FROM_SERVER)],
)
def test_each_side_s_batch_row_names_the_messages_a_batch_never_holds(
    heading: str, classes: tuple[type, ...]
) -> None:
    text = DOC.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in text.splitlines() if line.startswith("| `batch` |"))
    meaning = row.strip().strip("|").split("|")[2]
    left_out = set(re.findall(r"`([a-z_]+)`", meaning.split(" but ", 1)[1]))
    assert left_out == {cls.TYPE for cls in classes if cls in ALONE and cls is not Batch}  # type: ignore[attr-defined]


def test_the_parts_of_messages_are_listed_with_their_fields() -> None:
    assert table("Parts of messages") == {name: fields_of(cls) for name, cls in PARTS.items()}


def test_the_doc_names_the_version_the_code_speaks() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.startswith(f"# The worker protocol (version {PROTOCOL_VERSION})\n")
    hello = table("Messages from the worker")["hello"]
    assert "version" in hello
    assert f"`version` (int, {PROTOCOL_VERSION})" in text


def test_the_check_can_fail() -> None:
    """The parser sees a field that is missing from the doc: the check is not vacuous."""
    assert table("Messages from the worker")["result"] == {"job_id", "token", "result_json"}
    assert table("Messages from the server")["drain"] == set()


def test_the_close_codes_are_listed_with_whether_they_are_final() -> None:
    """docs/protocol.md's table of close codes holds every code rota.protocol.closing names,
    marked final exactly when a worker stops after it."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Close codes\n", 1)[1].split("\n## ", 1)[0]
    documented: dict[int, bool] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            documented[int(cells[0])] = cells[2] == "yes"
    in_code = {
        value: value in closing.REFUSED_FOR_GOOD
        for name, value in vars(closing).items()
        if name.startswith("CLOSE_")
    }
    assert documented == in_code
    statuses = sorted(closing.HTTP_REFUSED_FOR_GOOD)
    assert f"HTTP {' or '.join(map(str, statuses))}" in section
