"""The sender every push exporter sits behind: queue -> retry -> timeout -> export.

`collector.sending.settings` (the config keys), `.sender` (the retry loop), `.backoff` (the schedule),
`.queue` (in memory) and `.persistent_queue` (on disk, with its invariants).
"""
