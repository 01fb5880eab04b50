"""The sender every push exporter sits behind: queue -> retry -> timeout -> export.

`collector.sending.settings` (the config keys), `.sender` (the retry loop), `.backoff` (the schedule),
`.retry_after` (the backend's own delay, for every exporter's ``classify()``), `.queue` (in memory) and
`.persistent_queue` (on disk, with its invariants).
"""
