"""Calendar import: iCalendar (.ics) files read, expanded and turned into reminders.

reading.py checks a file line by line and parses it (icalendar, x-wr-timezone); expand.py
lists the occurrences of its events (recurring-ical-events); plan.py says which reminders and
schedules a file asks for and how they differ from what was imported before; importer.py
reads and writes them in a Store.
"""
