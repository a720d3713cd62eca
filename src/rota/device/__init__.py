"""The device: a worker that holds reminders and rings them by its own clock."""
