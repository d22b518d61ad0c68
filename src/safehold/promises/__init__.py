"""``safehold promises``: every promise the loaded policy makes, checked on the live database.

Each check reads the tables directly (not through the services that are meant to keep the
promise) and reports *held* or *violated*, with a count and a few example ids — never
personal data. The CLI, the console page, the daily worker job and the gauge on /metrics all
show the same report (decision 0027)."""
