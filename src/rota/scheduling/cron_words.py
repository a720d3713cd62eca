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
        return str(ExpressionDescriptor(text, options).get_description())
    except Exception:  # the library raises its own types, and not only for bad input
        return None
