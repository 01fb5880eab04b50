"""`otel-distro retention schedule`: the next run is the next local wall-clock occurrence of the time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from otel_distro.retention import next_run, schedule

ISTANBUL = ZoneInfo("Europe/Istanbul")
NEW_YORK = ZoneInfo("America/New_York")


def test_later_today_or_tomorrow() -> None:
    assert next_run(datetime(2026, 12, 6, 1, 0, tzinfo=ISTANBUL), "03:00") == datetime(2026, 12, 6, 3, 0,
                                                                                          tzinfo=ISTANBUL)
    assert next_run(datetime(2026, 12, 6, 3, 0, tzinfo=ISTANBUL), "03:00") == datetime(2026, 12, 7, 3, 0,
                                                                                          tzinfo=ISTANBUL)


def test_wall_clock_time_is_kept_across_a_dst_change() -> None:
    before = datetime(2026, 11, 1, 4, 0, tzinfo=NEW_YORK) - timedelta(days=1)  # EDT, the day before the change
    after = next_run(next_run(before, "03:00"), "03:00")
    assert (after.hour, after.minute, after.utcoffset()) == (3, 0, timedelta(hours=-5))


def test_schedule_runs_the_job_at_each_time_and_survives_a_failing_night() -> None:
    now = [datetime(2026, 12, 6, 2, 0, tzinfo=ISTANBUL)]
    ran: list[datetime] = []

    def job() -> None:
        ran.append(now[0])
        if len(ran) == 1:
            raise RuntimeError("cluster down")

    def sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    schedule(job, "03:00", clock=lambda: now[0], sleep=sleep, runs=2)
    assert ran == [datetime(2026, 12, 6, 3, 0, tzinfo=ISTANBUL), datetime(2026, 12, 7, 3, 0, tzinfo=ISTANBUL)]
