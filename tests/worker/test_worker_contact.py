"""The self-fence's arithmetic: when a cut-off worker must stop the code it holds."""

from __future__ import annotations

from rota.worker.contact import MARGIN, Contact


def test_nothing_lapses_before_a_welcome_said_how_long_leases_last() -> None:
    assert not Contact().lapsed(received_at=0.0, now=1e9)


def test_an_attempt_lapses_a_lease_less_the_margin_after_the_last_confirmed_heartbeat() -> None:
    contact = Contact()
    contact.welcomed(10.0, hello_sent_at=100.0)
    contact.confirmed(105.0)
    limit = 105.0 + 10.0 * (1 - MARGIN)
    assert not contact.lapsed(received_at=101.0, now=limit - 0.01)
    assert contact.lapsed(received_at=101.0, now=limit)
    contact.confirmed(103.0)  # an older confirmation arriving late moves nothing back
    assert contact.lapsed(received_at=101.0, now=limit)


def test_an_attempt_handed_over_after_the_last_confirmation_counts_from_its_arrival() -> None:
    contact = Contact()
    contact.welcomed(4.0, hello_sent_at=0.0)
    assert not contact.lapsed(received_at=10.0, now=12.9)
    assert contact.lapsed(received_at=10.0, now=13.0)
    assert contact.silent_s == 3.0
