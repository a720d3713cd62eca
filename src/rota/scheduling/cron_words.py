"""Cron expressions in words, for people: "At 03:00, Monday through Friday".

The words come from cron-descriptor, which reads 5 fields, or 6 with seconds first as Rota
does. Aliases such as @daily are expanded first, by the same table the parser uses.
"""

from __future__ import annotations

from cron_descriptor import ExpressionDescriptor, Options

from rota.scheduling.cron_parse import ALIASES


def describe_cron(expression: str) -> str | None:
    """Return `expression` in English words, 24-hour clock, or None if the library cannot
    read it (the parser, not this function, decides whether an expression is valid)."""
    text = expression.strip()
    text = ALIASES.get(text.lower(), text)
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        words = str(ExpressionDescriptor(text, options).get_description())
    except Exception:  # the library raises its own types, and not only for bad input
        return None
    return _both_days(text, words)


def _both_days(expression: str, words: str) -> str:
    """Return the words with the day fields joined as Rota joins them.

    cron-descriptor joins a restricted day of month and day of week with "or" whenever both
    are given ("every 2 days, or on Monday"), but under Vixie cron's rule, which Rota
    follows, a day field that starts with `*` (such as `*/2`) makes the two fields both
    apply: `0 9 */2 * mon` runs on Mondays that are odd days of the month.
    """
    fields = expression.split()
    if len(fields) not in (5, 6):
        return words
    day_of_month, day_of_week = fields[-3], fields[-1]
    if "*" in (day_of_month, day_of_week):
        return words
    if day_of_month.startswith("*") != day_of_week.startswith("*"):
        return words.replace(", or on ", ", but only on ")
    return words
