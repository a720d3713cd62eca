"""Reminders: jobs with task `rota.remind` that ring on people's devices (see docs/reminders.md)."""
