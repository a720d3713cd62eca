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
        descriptor = ExpressionDescriptor(text, options)
        words = str(descriptor.get_description())
        week_words = str(descriptor.get_day_of_week_description())
    except Exception:  # the library raises its own types, and not only for bad input
        return None
    return _both_days(text, words, week_words)


def _both_days(expression: str, words: str, week_words: str) -> str:
    """Return the words with the day fields joined as Rota joins them (`week_words`: the
    library's words for the day of week, as they appear in `words`).

    Under Vixie cron's rule, which Rota follows, a restricted day of month and day of week
    are either-or, unless one of them starts with `*` (such as `*/2`): then both apply, and
    `0 9 */2 * mon` runs on Mondays that are odd days of the month. cron-descriptor says "or"
    for some days of week ("or on Monday") in both cases, and for others ("Monday through
    Friday") in neither.
    """
    fields = expression.split()
    if len(fields) not in (5, 6):
        return words
    day_of_month, day_of_week = fields[-3], fields[-1]
    if "*" in (day_of_month, day_of_week):
        return words
    if day_of_month.startswith("*") or day_of_week.startswith("*"):
        return words.replace(", or on ", ", but only on ")
    if week_words.startswith(", ") and not week_words.startswith(", or "):
        return words.replace(week_words, f", or {week_words[2:]}", 1)
    return words
