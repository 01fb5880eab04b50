"""Issue 14's targets on the held-out corpus (twelve shapes the engine was not tuned on, every line carrying
personal data or secrets): recall >= 0.99, strict recall >= 0.98 (no piece of a value left), keep >= 0.995.
Correctness only: the speed targets are measured by ``bench/bench_scrub.py``."""

from __future__ import annotations

import pytest

from otel_distro.scrubbing import Scrubber
from otel_distro.scrubbing._corpus import Score, generate, score
from otel_distro.scrubbing._heldout import SHAPES, generate_heldout


@pytest.fixture(scope="module")
def result() -> Score:
    return score(generate_heldout(3000, seed=90210), Scrubber())


def test_the_held_out_corpus_has_twelve_shapes_none_of_them_the_tuning_corpus() -> None:
    records = generate_heldout(240, seed=5)
    shapes = {r.shape for r in records}
    assert shapes == set(SHAPES)
    assert len(shapes) == 12
    tuning = {r.text for r in generate(3000, seed=90210)}
    assert not tuning & {r.text for r in records}


def test_every_held_out_line_carries_pii() -> None:
    assert all(r.sensitive for r in generate_heldout(600, seed=6))


def test_the_held_out_corpus_is_seeded() -> None:
    assert [r.text for r in generate_heldout(40, seed=3)] == [r.text for r in generate_heldout(40, seed=3)]
    assert [r.text for r in generate_heldout(40, seed=3)] != [r.text for r in generate_heldout(40, seed=4)]


def test_recall(result: Score) -> None:
    assert result.recall_rate >= 0.99, f"recall {result.recall_rate:.4f}; first misses: {result.missed[:3]}"


def test_strict_recall(result: Score) -> None:
    assert result.strict_rate >= 0.98, f"strict {result.strict_rate:.4f}; first leaks: {result.leaked[:3]}"


def test_keep(result: Score) -> None:
    assert result.keep_rate >= 0.995, f"keep {result.keep_rate:.4f}; first broken: {result.broken[:3]}"


def test_a_masked_piece_counts_as_a_leak() -> None:
    class Partial(Scrubber):
        def scrub_text(self, text: str, counts: object = None) -> str:  # type: ignore[override]
            return text.replace("xapp-1-AAAAAAAA-", "[REDACTED:slack_token]")

    from otel_distro.scrubbing._corpus import Record  # noqa: PLC0415

    token = "xapp-1-AAAAAAAA-1234567890123-abcdef"
    rec = Record(f"token {token} ok", "log", sensitive=[("slack_token", token)])
    partial = score([rec], Partial())
    assert partial.recall_rate == 1.0
    assert partial.strict_rate == 0.0
    assert score([rec], Scrubber()).strict_rate == 1.0
