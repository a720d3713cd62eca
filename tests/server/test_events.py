"""The live-notice broadcaster: fan-out, overflow into one refresh, and clean unsubscribe."""

from __future__ import annotations

from rota.server.events import Broadcaster, Notice


async def test_notices_reach_every_subscriber_and_stop_after_leaving() -> None:
    hub = Broadcaster(max_queued=3)
    with hub.subscribe() as first, hub.subscribe() as second:
        assert hub.subscribers == 2
        hub.publish([Notice(kind="job", data={"id": "a"})])
        assert (await first.get(1)) == Notice(kind="job", data={"id": "a"})
        assert (await second.get(1)) == Notice(kind="job", data={"id": "a"})
        assert await first.get(0.01) is None
    assert hub.subscribers == 0


async def test_a_slow_subscriber_gets_one_refresh_instead_of_a_backlog() -> None:
    hub = Broadcaster(max_queued=3)
    with hub.subscribe() as slow:
        hub.publish(Notice(kind="job", data={"n": n}) for n in range(10))
        notice = await slow.get(1)
        assert notice is not None and notice.kind == "refresh"
        assert await slow.get(0.01) is None
        hub.publish([Notice(kind="job", data={"n": 11})])  # caught up: notices flow again
        again = await slow.get(1)
        assert again is not None and again.data == {"n": 11}


async def test_closing_ends_every_stream() -> None:
    hub = Broadcaster(max_queued=2)
    with hub.subscribe() as stream:
        hub.publish(Notice(kind="job") for _ in range(5))
        hub.close()
        assert stream.closed
        kinds = [(await stream.get(1)), (await stream.get(1))]
        assert [notice.kind for notice in kinds if notice] == ["refresh", "closing"]
