"""An option added after a run was recorded: resuming the run keeps the law it ran with.

``config.json`` records every option of the run's method; one it lacks was declared later, and
the run ran with that option's ``before`` value (``models.options.Option``), not with today's
default. ``--residual`` is such an option: runs recorded before it drew the residual
(``sample``), the default is now ``mean``.
"""

from __future__ import annotations

import json

import pytest
import torch

from sampler.cli.main import main
from sampler.config.method_options import method
from sampler.config.sources import from_run_record

RUN = [
    "train",
    "--model",
    "mlp",
    "--data",
    "gaussian-mixture",
    "--gm-dim",
    "40",
    "--gm-train",
    "60",
    "--gm-test",
    "20",
    "--batch-size",
    "10",
    "--samples",
    "64",
    "--block-size",
    "32",
    "--checkpoint-every",
    "2",
    "--quiet",
]


def params(run) -> torch.Tensor:
    return torch.load(run / "checkpoint.pt", weights_only=False)["params"]


def as_recorded_before_residual(run) -> None:
    """Rewrite ``run``'s config.json as a run recorded before ``--residual`` existed."""
    path = run / "config.json"
    record = json.loads(path.read_text())
    del record["method_options"]["residual"]
    path.write_text(json.dumps(record))


def test_a_record_without_a_later_option_resumes_with_the_law_it_ran_with(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main([*RUN, "--residual", "sample", "--steps", "4", "--out", str(whole)]) == 0
    assert main([*RUN, "--residual", "sample", "--steps", "2", "--out", str(part)]) == 0
    as_recorded_before_residual(part)
    assert main(["train", "--resume", str(part), "--steps", "4", "--quiet"]) == 0
    assert torch.equal(params(part), params(whole))
    # today's default is another law on this network: resuming with it would not be the run
    default = tmp_path / "default"
    assert main([*RUN, "--steps", "4", "--out", str(default)]) == 0
    assert not torch.equal(params(default), params(whole))


def test_the_old_law_is_read_but_never_replaces_a_recorded_value(tmp_path):
    run = tmp_path / "run"
    assert main([*RUN, "--steps", "2", "--out", str(run)]) == 0
    record = json.loads((run / "config.json").read_text())
    assert from_run_record(record)["method_options"]["residual"] == "mean"
    del record["method_options"]["residual"]
    assert from_run_record(record)["method_options"]["residual"] == "sample"
    # a record of the flat format (before method_options) gets the same
    flat = {k: v for k, v in record.items() if k != "method_options"}
    flat.update({k: v for k, v in record["method_options"].items()})
    assert from_run_record(flat)["residual"] == "sample"
    befores = {n: o.before for n, o in method("is", None).options.items() if o.before is not None}
    assert befores == {"residual": "sample", "control_variate": "none", "tau_scale": "absolute"}


def test_an_explicit_change_of_the_old_law_on_resume_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*RUN, "--residual", "sample", "--steps", "2", "--out", str(run)]) == 0
    as_recorded_before_residual(run)
    with pytest.raises(SystemExit):
        main(["train", "--resume", str(run), "--steps", "3", "--residual", "mean"])
    assert "--residual: cannot change on --resume (run has 'sample')" in capsys.readouterr().err


def test_a_hand_written_json_config_keeps_the_defaults(tmp_path):
    """Only a run's record is complete: a ``--config`` file that leaves an option out means the
    default, whatever the option's age."""
    written = {"model": "mlp", "estimator": "is", "method_options": {"samples": 64}}
    assert "residual" not in from_run_record(written)["method_options"]
    flat = {"model": "mlp", "estimator": "is", "samples": 64}
    assert "residual" not in from_run_record(flat)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**written, "data": "gaussian-mixture"}))
    run = tmp_path / "run"
    argv = ["train", "--config", str(path), "--steps", "1", "--quiet", "--out", str(run)]
    assert main(argv) == 0
    assert json.loads((run / "config.json").read_text())["method_options"]["residual"] == "mean"
