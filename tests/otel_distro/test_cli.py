from otel_distro.cli import main


def test_unknown_command_names_it_and_lists_valid_ones(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "'frobnicate'" in err
    assert "collector" in err and "scrub" in err


def test_no_command_prints_usage_and_fails(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([]) == 2
    assert "usage: otel-distro" in capsys.readouterr().out
