"""When schedules fire: cron expressions, daylight-saving rules and triggers (all pure)."""

from rota.scheduling.cron import CronExpression, fire_times, next_fire_at
from rota.scheduling.triggers import (
    CronTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
    parse_timezone,
)

__all__ = [
    "CronExpression",
    "CronTrigger",
    "IntervalTrigger",
    "OnceTrigger",
    "Trigger",
    "fire_times",
    "next_fire_at",
    "parse_timezone",
]
