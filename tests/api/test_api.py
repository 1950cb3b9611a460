"""The Python API: sampler.train is the command's run loop; build/init/step is the same update;
callable schedules; errors name the argument; parameters come back as a module and a state_dict."""

from __future__ import annotations

import json

import pytest
import torch

import sampler
from sampler.cli.main import main
from sampler.models import Dataset

GM = {"dim": 10, "train_size": 400, "test_size": 200}
GM_FLAGS = ["--data", "gaussian-mixture"]
for key, value in GM.items():
    GM_FLAGS += ["--data-opt", f"{key}={value}"]


def tensors(n=300, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


class Network(torch.nn.Module):
    def __init__(self, dim=6, hidden=8, classes=2):
        super().__init__()
        self.hidden = torch.nn.Linear(dim, hidden)
        self.out = torch.nn.Linear(hidden, classes)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def Net(**sizes):  # noqa: N802 - a network as a user builds it; its initialisation draws from
    with torch.random.fork_rng():  # the global generator, which the code under test must not
        return Network(**sizes)


def flat(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def test_train_equals_the_command_on_the_same_settings(tmp_path):
    out = tmp_path / "cli"
    flags = ["--model", "linear", *GM_FLAGS, "--samples", "60", "--tau", "0.05"]
    assert main(["train", *flags, "--steps", "6", "--quiet", "--out", str(out)]) == 0
    result = sampler.train(
        "linear", "gaussian-mixture", data_options=GM, samples=60, tau=0.05, steps=6, quiet=True
    )
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=False)
    assert torch.equal(result.params, checkpoint["params"])
    assert result.out is None and result.module is None
    assert len(result.metrics) == 6
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [{**m, "time": 0} for m in result.metrics] == [{**m, "time": 0} for m in lines]
    cli_summary = json.loads((out / "summary.json").read_text())
    assert result.summary["final_test_accuracy"] == cli_summary["final_test_accuracy"]


def test_a_modules_parameters_come_back_trained(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the temporary run directory
    x, y = tensors()
    net = Net()
    before = flat(net).clone()
    result = sampler.train(
        net,
        (x[:200], y[:200]),
        test=(x[200:], y[200:]),
        estimator="is",
        samples=100,
        tau=0.02,
        steps=20,
        eval_every=10,
        quiet=True,
    )
    assert result.module is net and not torch.equal(flat(net), before)
    assert torch.equal(flat(net), result.params)
    with torch.no_grad():
        accuracy = (net(x[200:]).argmax(1) == y[200:]).float().mean().item()
    assert accuracy == pytest.approx(result.summary["final_test_accuracy"])
    assert [m["step"] for m in result.metrics] == list(range(1, 21))
    assert "test_accuracy" in result.metrics[9] and "ess" in result.metrics[0]
    assert list(tmp_path.iterdir()) == []  # the temporary run directory is gone
    fresh = Net()
    fresh.load_state_dict(result.state_dict())
    assert torch.equal(flat(fresh), result.params)


def test_without_a_test_set_the_training_set_is_evaluated():
    x, y = tensors(100)
    result = sampler.train(Net(), (x, y), baseline="sgd", lr=0.1, steps=3, quiet=True)
    assert result.summary["dataset_test_is_train"] == 1


def test_a_torch_dataset_gives_the_run_of_its_tensors():
    x, y = tensors(120)
    common = {"baseline": "sgd", "lr": 0.1, "steps": 5, "quiet": True}
    a = sampler.train(Net(), torch.utils.data.TensorDataset(x, y), **common)
    b = sampler.train(Net(), (x.numpy(), y.numpy()), **common)
    assert torch.equal(a.params, b.params)


def test_build_step_is_the_update_of_train():
    x, y = tensors(200)
    options = {"estimator": "is", "samples": 50, "tau": 0.05, "seed": 3}
    result = sampler.train(Net(), (x, y), steps=4, batch_size=20, quiet=True, **options)
    algorithm = sampler.build(Net(), steps=4, **options)
    data = Dataset("x", x, y, x, y, 2)  # the minibatch rule of every run
    state = algorithm.init()
    for k in range(4):
        state, info = algorithm.step(state, data.minibatch(3, k, 20))
    assert torch.equal(state.params, result.params) and state.k == 4
    assert info["loss_evals"] == 50 and "ess" in info
    net = algorithm.load_into(Net(), state)
    assert torch.equal(flat(net), state.params)


def test_load_into_a_network_of_another_architecture_is_refused_naming_what_differs():
    with torch.random.fork_rng():  # nn.Linear initialises from the global generator
        _load_into_other_architectures()


def _load_into_other_architectures():
    algorithm = sampler.build(torch.nn.Sequential(torch.nn.Linear(4, 3)), baseline="sgd")
    state = algorithm.init()
    others = {
        "parameter '0.weight' has shape (3, 5), the trained network's (3, 4)": torch.nn.Sequential(
            torch.nn.Linear(5, 3)
        ),
        "has no parameter '0.weight'": torch.nn.Linear(4, 3),
        "has parameters the trained network has not: 1.weight, 1.bias": torch.nn.Sequential(
            torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)
        ),
        "must be a torch.nn.Module, got str": "net",
    }
    for difference, other in others.items():
        before = flat(other).clone() if isinstance(other, torch.nn.Module) else None
        with pytest.raises(ValueError) as refused:
            algorithm.load_into(other, state)
        assert str(refused.value).startswith("load_into(module=): " + difference)
        assert "\n" not in str(refused.value)
        if before is not None:  # nothing copied
            assert torch.equal(flat(other), before)
    same = algorithm.load_into(torch.nn.Sequential(torch.nn.Linear(4, 3)), state)
    assert torch.equal(flat(same), state.params)


def test_build_init_from_the_modules_own_weights():
    net = Net()
    algorithm = sampler.build(net, baseline="sgd", lr=0.1)
    assert torch.equal(algorithm.init(net).params, flat(net))
    with pytest.raises(ValueError, match=r"init\(params\): needs"):
        algorithm.init(torch.zeros(3))


def test_a_python_function_schedule_is_the_schedule_it_computes(tmp_path):
    x, y = tensors(200)
    common = {"estimator": "is", "samples": 40, "steps": 5, "quiet": True}
    spec = sampler.train(Net(), (x, y), tau="scoping:0.05,0.1", lr=0.02, **common)

    def shrinking(k):
        return 0.05 / 1.1**k

    called = sampler.train(
        Net(), (x, y), tau=shrinking, lr=lambda k: 0.02, out=tmp_path / "r", **common
    )
    assert torch.allclose(called.params, spec.params, rtol=0, atol=1e-6)
    record = json.loads((tmp_path / "r" / "config.json").read_text())["method_options"]
    assert record["tau"].startswith("python:") and record["tau"].endswith("shrinking")
    assert record["lr"].startswith("python:") and "lambda" in record["lr"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"tau": "abc"}, "tau=: cannot read 'abc'"),
        ({"tau": lambda k: -1.0}, "tau=: the function"),
        ({"lr": lambda k: 1 / (3 - k)}, "lr=: "),  # fails at step 3 of the run
        ({"samples": 0}, "samples=: must be an integer >= 1"),
        ({"chains": 3}, "chains=: an option of estimator='sgld', not of estimator='is'"),
        ({"optimizer": "momentum"}, "optimizer='momentum': needs momentum= in (0, 1)"),
        ({"batch_size": 0}, "batch_size=: must be a positive integer"),
        ({"batch_size": 500}, "batch_size=: must be at most the 100 training examples"),
        ({"bogus": 1}, "bogus=: unknown setting"),
        ({"estimator": "sgld", "baseline": "sgd"}, "estimator= and baseline= exclude"),
        ({"tau": {"hidden": 0.01}}, "tau=: no tau for layer(s) out"),
        ({"baseline": "sgd", "nesterov": True}, "nesterov=: needs momentum="),
        ({"num_classes": 1}, "num_classes=: the targets hold class 1"),
    ],
)
def test_errors_name_the_argument(arguments, message):
    x, y = tensors(100)
    with pytest.raises(ValueError) as caught:
        sampler.train(Net(), (x, y), **{"steps": 5, "quiet": True, **arguments})
    assert message in str(caught.value)
    assert "--" not in str(caught.value)


def test_bad_data_and_models_are_named():
    x, y = tensors(50)
    with pytest.raises(ValueError, match=r"^data=: needs inputs \[N, ...\] and targets \[N\]"):
        sampler.train(Net(), (x, y[:10]))
    with pytest.raises(ValueError, match=r"^data=: targets must be integer class indices"):
        sampler.train(Net(), (x, y.float()))
    with pytest.raises(ValueError, match=r"^model=: must give \[N, C\] logits with C >= the 3"):
        sampler.train(Net(), (x, torch.arange(50) % 3))
    with pytest.raises(ValueError, match=r"^model=: must be a zoo name"):
        sampler.train(object(), (x, y))
    with pytest.raises(ValueError, match=r"^data_options=: only for a data set given by name"):
        sampler.train(Net(), (x, y), data_options={"dim": 3})
    with pytest.raises(ValueError, match=r"^num_classes=: only for data given as tensors"):
        sampler.train("linear", "gaussian-mixture", num_classes=3)
    with pytest.raises(ValueError, match=r"^model='mlp': unknown option 'width'"):
        sampler.train("mlp", "gaussian-mixture", model_options={"width": 3})


def test_the_command_names_flags_again_after_an_api_error(capsys):
    x, y = tensors(50)
    with pytest.raises(ValueError, match="tau="):
        sampler.train(Net(), (x, y), tau="abc")
    with pytest.raises(SystemExit):
        main(["train", *GM_FLAGS, "--tau", "abc"])
    assert "--tau: cannot read 'abc'" in capsys.readouterr().err


def test_out_keeps_the_run_and_resume_continues_it(tmp_path):
    x, y = tensors(200)
    common = {"estimator": "is", "samples": 40, "tau": 0.05, "quiet": True}
    whole = sampler.train(Net(), (x, y), steps=6, out=tmp_path / "whole", **common)
    sampler.train(Net(), (x, y), steps=3, out=tmp_path / "part", **common)
    with pytest.raises(ValueError, match=r"^out=: .* already holds a run; continue it with"):
        sampler.train(Net(), (x, y), steps=6, out=tmp_path / "part", **common)
    with pytest.raises(ValueError, match=r"^samples=: cannot change on resume= \(run has 40\)"):
        sampler.train(
            Net(), (x, y), steps=6, out=tmp_path / "part", resume=True, **{**common, "samples": 41}
        )
    resumed = sampler.train(Net(), (x, y), steps=6, out=tmp_path / "part", resume=True, **common)
    assert torch.equal(resumed.params, whole.params)
    assert [m["step"] for m in resumed.metrics] == list(range(1, 7))
    for run in ("whole", "part"):
        saved = torch.load(tmp_path / run / "state_dict.pt")
        assert list(saved) == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]


def test_export_writes_a_state_dict_from_any_run(tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--model", "mlp", "--model-opt", "widths=5", *GM_FLAGS, "--samples", "20"]
    assert main(["train", *flags, "--steps", "2", "--quiet", "--out", str(out)]) == 0
    assert main(["export", str(out), "--out", str(tmp_path / "sd.pt")]) == 0
    assert "4 tensors" in capsys.readouterr().out  # fc0.weight/bias, fc1.weight/bias
    exported = torch.load(tmp_path / "sd.pt")
    assert {k: tuple(v.shape) for k, v in exported.items()} == {
        "fc0.weight": (5, 10),
        "fc0.bias": (5,),
        "fc1.weight": (2, 5),
        "fc1.bias": (2,),
    }
    final = torch.load(out / "state_dict.pt")
    params = torch.load(out / "checkpoint.pt", weights_only=False)["params"]
    assert all(torch.equal(final[k], exported[k]) for k in final)
    assert torch.equal(torch.cat([t.reshape(-1) for t in exported.values()]), params)
    with torch.random.fork_rng():
        layer = torch.nn.Linear(10, 5)  # the dense zoo's layout is nn.Linear's
    layer.load_state_dict({"weight": exported["fc0.weight"], "bias": exported["fc0.bias"]})


def test_export_of_a_python_model_run(tmp_path):
    x, y = tensors(100)
    sampler.train(Net(), (x, y), baseline="sgd", lr=0.1, steps=2, out=tmp_path / "r", quiet=True)
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path / "r")])
    state = sampler.export_state_dict(tmp_path / "r", Net(), out=tmp_path / "again.pt")
    assert all(
        torch.equal(v, torch.load(tmp_path / "r" / "state_dict.pt")[k]) for k, v in state.items()
    )


def test_a_zoo_name_on_the_callers_tensors():
    x, y = tensors(100)
    result = sampler.train(
        "mlp", (x, y), model_options={"widths": 4}, baseline="sgd", steps=2, quiet=True
    )
    assert result.module is None and result.model.num_params == 6 * 4 + 4 + 4 * 2 + 2
    assert list(result.state_dict()) == ["fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias"]


def test_a_step_that_needs_more_minibatches_asks_for_draw():
    x, y = tensors(100)
    algorithm = sampler.build(Net(), baseline="esgd", esgd_steps=2)
    state = algorithm.init()
    with pytest.raises(ValueError, match=r"step\(draw=\): esgd asks for minibatch stream 1"):
        algorithm.step(state, (x[:10], y[:10]))
    state, info = algorithm.step(
        state, (x[:10], y[:10]), draw=lambda s: (x[10 * s :][:10], y[10 * s :][:10])
    )
    assert info["grad_evals"] == 2 and state.k == 1


def test_run_settings_that_are_not_named_arguments_are_accepted():
    """Every run setting of sampler train under its Python name, also those without a named
    parameter: a data set's alias, stop_on_divergence, and build's batch_size."""
    result = sampler.train(
        "linear", "gaussian-mixture", steps=2, quiet=True, gm_dim=4, stop_on_divergence=True
    )
    assert result.summary["steps"] == 2 and result.model.num_params == 4 * 2 + 2
    algorithm = sampler.build("linear", input_shape=(4,), num_classes=2, batch_size=5)
    assert algorithm.config.batch_size == 5


def test_a_divergence_of_an_api_run_names_the_api_arguments(capsys):
    from sampler.training.health import DivergenceStop

    with pytest.raises(DivergenceStop) as stop:
        sampler.train(
            "linear",
            "gaussian-mixture",
            baseline="sgd",
            lr=1e30,
            steps=3,
            quiet=True,
            gm_dim=4,
            stop_on_divergence=True,
        )
    assert "stopped by stop_on_divergence=:" in str(stop.value)
    assert "lower lr= or tau=" in str(stop.value) and "--" not in str(stop.value)
    assert "lower lr= or tau=" in capsys.readouterr().err
    # without out= the run's temporary directory is removed: no claim that a checkpoint is kept
    assert str(stop.value).endswith("(give out= to keep the run's checkpoint)")
    assert "is kept in" not in str(stop.value)
