"""CLI options built from Settings: environment variables still work, flags win, bad input is an `error:` line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from shoplens.cli import app
from tests.support.bundles import NAME, make_bundle

runner = CliRunner()
QUICK_TRAINING = ["--epochs", "1", "--threads", "1", "--no-progress", "--no-verify"]


def failed_cleanly(result: Result, code: int, *words: str) -> bool:
    """Exit code `code`, an `error: …` line naming every word, and no traceback."""
    return (
        result.exit_code == code
        and isinstance(result.exception, SystemExit)
        and "Traceback" not in result.output
        and ("error" in result.output or "Invalid value" in result.output)
        and all(w in result.output for w in words)
    )


def test_the_models_dir_comes_from_the_environment_unless_a_flag_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bundle(tmp_path / "from-env", "v1", seed=1)
    make_bundle(tmp_path / "from-flag", "v7", seed=7)
    monkeypatch.setenv("SHOPLENS_MODELS_DIR", str(tmp_path / "from-env"))
    listed = runner.invoke(app, ["models", "versions"])
    assert listed.exit_code == 0 and "v1" in listed.output and "v7" not in listed.output
    listed = runner.invoke(app, ["models", "versions", "--models-dir", str(tmp_path / "from-flag")])
    assert listed.exit_code == 0 and "v7" in listed.output and "v1" not in listed.output


@pytest.mark.slow
def test_train_puts_its_bundle_where_serve_looks(
    tmp_path: Path, fmnist_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLENS_MODELS_DIR", str(tmp_path / "models"))
    trained = runner.invoke(app, ["train", "--data-dir", str(fmnist_dir), *QUICK_TRAINING])
    assert trained.exit_code == 0, trained.output
    (version,) = (tmp_path / "models" / NAME).iterdir()
    listed = runner.invoke(app, ["models", "versions"])
    assert listed.exit_code == 0 and version.name in listed.output


def test_invalid_settings_name_the_flag_or_variable_they_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert failed_cleanly(runner.invoke(app, ["serve", "--port", "70000"]), 2, "--port", "65535")
    assert failed_cleanly(runner.invoke(app, ["serve", "--runtime", "gpu"]), 2, "gpu")
    assert failed_cleanly(runner.invoke(app, ["reindex", "--method", "flat"]), 2, "flat")
    assert failed_cleanly(
        runner.invoke(app, ["models", "versions", "--name", "../up"]), 2, "invalid model name"
    )
    monkeypatch.setenv("SHOPLENS_PORT", "eighty")
    assert failed_cleanly(runner.invoke(app, ["models", "versions"]), 2, "SHOPLENS_PORT", "integer")
    monkeypatch.delenv("SHOPLENS_PORT")
    monkeypatch.setenv("SHOPLENS_BODY_TIMEOUT_S", "inf")  # it switched the slow-client guard off
    assert failed_cleanly(runner.invoke(app, ["models", "versions"]), 2, "SHOPLENS_BODY_TIMEOUT_S", "finite")


def test_bad_paths_and_unknown_names_are_errors_not_tracebacks(tmp_path: Path, fmnist_dir: Path) -> None:
    make_bundle(tmp_path / "models", "v1", seed=1)
    models = ["--models-dir", str(tmp_path / "models")]
    catalog = [*models, "--catalog-dir", str(tmp_path / "catalog")]
    assert failed_cleanly(runner.invoke(app, ["models", "activate", "v9", *models]), 2, "no version 'v9'")
    missing = tmp_path / "no-such-folder"
    assert failed_cleanly(runner.invoke(app, ["ingest", f"{missing}/", *catalog]), 2, "no folder or file")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    sample = runner.invoke(app, ["data", "sample", str(blocked / "x.png"), "--data-dir", str(fmnist_dir)])
    assert failed_cleanly(sample, 1, str(blocked))
    trends = runner.invoke(app, ["report", "trends", "--out", str(blocked / "reports"), *catalog])
    assert failed_cleanly(trends, 1, str(blocked))
    assert failed_cleanly(runner.invoke(app, ["catalog", "qa", "--limit", "-1", *catalog]), 2, "--limit")


def test_the_training_choices_are_the_trainers_own() -> None:
    import dataclasses
    import typing

    from shoplens.cli.training import Optimizer, Schedule
    from shoplens.training.presets import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    for option, field in ((Schedule, "schedule"), (Optimizer, "optimizer")):
        assert field in {f.name for f in dataclasses.fields(TrainConfig)}
        assert {o.value for o in option} == set(typing.get_args(hints[field])), field


def test_versions_of_a_models_folder_that_is_not_there_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "versions", "--models-dir", str(tmp_path / "nowhere")])
    assert failed_cleanly(result, 2, "no models folder")


def test_sigterm_in_a_cleaned_up_block_raises_like_ctrl_c_and_the_handler_comes_back() -> None:
    import os
    import signal
    import time

    from shoplens.cli.common import stopped_cleanly_by_sigterm

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped, stopped_cleanly_by_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs at the next bytecode; never more than a second here
            time.sleep(0.01)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before
