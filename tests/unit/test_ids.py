"""Job ids are UUIDv7, unique and sortable by time; lease tokens are unguessable."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from rota.ids import new_job_id, new_lease_token, uuid_text
from rota.store.common import JobIds


def test_ids_are_valid_uuid7() -> None:
    for _ in range(100):
        value = uuid.UUID(new_job_id())
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_ids_are_canonical_text() -> None:
    text = new_job_id()
    assert text == str(uuid.UUID(text)) and len(text) == 36 and text == text.lower()


def test_ids_carry_their_millisecond() -> None:
    ms = 1_900_000_000_123
    assert uuid.UUID(new_job_id(ms)).int >> 80 == ms


def test_ids_sort_by_time() -> None:
    ids = [new_job_id(ms) for ms in range(1_700_000_000_000, 1_700_000_000_000 + 1000, 7)]
    assert ids == sorted(ids)


def test_ids_from_the_clock_are_recent() -> None:
    before = int(time.time() * 1000)
    stamp = uuid.UUID(new_job_id()).int >> 80
    after = int(time.time() * 1000)
    assert before <= stamp <= after


def test_ids_are_unique_even_in_one_millisecond() -> None:
    ids = {new_job_id(1_700_000_000_000) for _ in range(10_000)}
    assert len(ids) == 10_000


def test_lease_tokens_are_unique_and_long() -> None:
    tokens = {new_lease_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(token) >= 32 for token in tokens)


def test_uuid_text_is_the_uuid_modules_text() -> None:
    for value in (0, 1, 2**128 - 1, uuid.uuid4().int, uuid.UUID(new_job_id()).int):
        assert uuid_text(value) == str(uuid.UUID(int=value))


def test_ids_issued_in_one_millisecond_still_increase() -> None:
    ids = JobIds()
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    issued = [ids.next(moment) for _ in range(2000)]
    assert issued == sorted(issued) and len(set(issued)) == 2000
    assert all(uuid.UUID(text).version == 7 for text in issued)
    assert all(text == str(uuid.UUID(text)) for text in issued)
