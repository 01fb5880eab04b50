import pytest

from collector.config_types import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("200ms", 0.2), ("1m30s", 90.0), ("1h", 3600.0), ("0", 0.0), (2, 2.0), (0.5, 0.5), ("10us", 1e-5)],
)
def test_durations_parse_like_go(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5", "5 s", "s", "", "-1s", True, None, -3, "5sx"])
def test_bad_durations_are_rejected_with_the_value_named(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)
