"""The run loop of ``sampler train``: minibatch(k) -> trainer step -> log -> checkpoint.

Every rank runs the loop on identical parameters (the estimators' collectives return the same
numbers to every rank); rank 0 alone writes the run directory and shows the progress bar.
Resuming loads the checkpoint and continues; since every random draw is a function of
(seed, stream, step, index), the resumed run gives the parameters of an uninterrupted one.
An interrupted run (Ctrl-C, SIGTERM, SIGUSR1: ``sampler.training.signals``) writes a checkpoint of
its last completed step before it stops, and so does one whose metrics append fails (a full
disk). Rank 0 holds the run directory's lock for the whole run (``sampler.runs.lock``). Before
the first update the sizes are checked against memory (``sampler.config.limits``) and the data
against the model (``sampler.training.preflight``); after every update ``sampler.training.health``
watches for a runaway run or one dominated by its Monte Carlo error (warnings;
``--stop-on-divergence`` stops a divergence). The Python API (``sampler.api.train``) runs this same
loop on a model and data set it built itself.
"""

from __future__ import annotations

import math
import re
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from sampler.api.export import STATE_DICT, save_state_dict
from sampler.config.limits import check_model
from sampler.config.settings import ConfigError, RunConfig, config_record, flag, method_values
from sampler.flatness.layer_signal import SIGNAL_EXAMPLES, signal_record
from sampler.flatness.probe_set import probe_batch
from sampler.models import DATASETS, DataOptions, model_spec
from sampler.models.interface import model_state_dict
from sampler.mpi import Comm, rank_device, set_threads
from sampler.problem import Problem
from sampler.runs.directory import RunDirectory, RunWriteError, check_new_out
from sampler.runs.lock import RunLock
from sampler.runs.metadata import run_metadata
from sampler.runs.tensorboard import open_board
from sampler.schedules import recorded
from sampler.scheme.warm_start import load_initial_params
from sampler.training import signals
from sampler.training.evaluation import evaluate
from sampler.training.health import DivergenceStop, RunHealth
from sampler.training.preflight import check_data, check_resume
from sampler.training.setup import build_trainer


class DivergedError(RuntimeError):
    pass


@dataclass
class RunResult:
    params: torch.Tensor
    summary: dict
    out: Path | None
    model: object = None  # the flat-vector model the run trained


def default_out(config: RunConfig) -> str:
    """``runs/<time>-<method>-<model>``, created here so that it is this run's alone: a second
    run started in the same second gets ``...-2`` (and so on)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    model = re.sub(r"[^\w.-]+", "-", config.model)  # keras:MODULE:FACTORY -> keras-MODULE-...
    base = Path("runs") / f"{stamp}-{config.baseline or config.estimator}-{model}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, 10_000):
        path = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return str(path)
    raise RuntimeError(f"{base}: no free run directory name")


def data_options(config: RunConfig) -> DataOptions:
    return DataOptions(config.data_dir, config.data_seed, dict(config.data_options))


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def train(
    config: RunConfig, comm: Comm, resume: bool = False, model=None, dataset=None
) -> RunResult:
    """Run (or continue, with ``resume``) the training that ``config`` describes; rank 0 holds
    the run directory's lock throughout, and SIGTERM/SIGUSR1 stop the run as Ctrl-C does. A
    ``model`` or ``dataset`` given (by ``sampler.api.train``) replaces the one ``config`` names."""
    made = config.out is None or (comm.rank == 0 and not Path(config.out).exists())
    if config.out is None:
        config.out = comm.bcast(default_out(config) if comm.rank == 0 else None)
    lock = nullcontext()
    if comm.rank == 0:
        if not resume:
            check_new_out(Path(config.out))
            try:
                Path(config.out).mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise RunWriteError(
                    f"--out {config.out}: cannot create ({error.strerror})"
                ) from None
        lock = RunLock(config.out, "--resume" if resume else "--out")
    try:
        with lock, signals.handled(comm):
            return _train(config, comm, resume, model, dataset)
    finally:
        if made and comm.rank == 0 and not resume:
            _remove_if_empty(Path(config.out))  # a run that failed before writing anything


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass  # not empty (the run wrote its files) or already gone


def _train(config: RunConfig, comm: Comm, resume: bool, model=None, dataset=None) -> RunResult:
    started = datetime.now(timezone.utc)
    device = rank_device(comm.local_rank, config.device)
    set_threads(config.threads)
    supplied = frozenset(k for k, v in (("model", model), ("data", dataset)) if v is not None)
    if dataset is None:
        dataset = DATASETS[config.data](data_options(config))
    dataset = dataset.to(device)
    if config.batch_size > dataset.train_x.shape[0]:
        raise ConfigError(
            f"{flag('batch_size')}: must be at most the {dataset.train_x.shape[0]} training "
            f"examples of {config.data}, got {config.batch_size}"
        )
    if model is None:
        spec = model_spec(config.model)
        if spec.prepare is not None:  # e.g. TensorFlow's threads and GPU, before it starts
            spec.prepare(device)
        try:
            model = spec(dataset.input_shape, dataset.num_classes, **config.model_options)
        except (OverflowError, RuntimeError, TypeError) as error:  # a layer size beyond any index
            if isinstance(error, TypeError) and "Overflow" not in str(error):
                raise
            options = ", ".join(f"{k}={v}" for k, v in config.model_options.items())
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
            raise ConfigError(
                f"--model {config.model} ({options}): cannot be built ({reason})"
            ) from None
    elif hasattr(model, "to"):  # a module's buffers go where the data are
        model = model.to(device)
    values = method_values(config)
    check_model(config, values, model.num_params)  # before a parameter is allocated
    check_data(
        dataset, f"--data-dir {config.data_dir}" if config.data_dir else f"--data {config.data}"
    )
    trainer = build_trainer(config, model)
    health = RunHealth(config, values)
    run_dir = RunDirectory(config.out)

    if config.init_from is not None and not resume:
        params = load_initial_params(config.init_from, model, device)
    else:
        params = model.init_params(config.seed).to(device)
    state = trainer.init(params)
    totals = {"loss_evals": 0, "grad_evals": 0, "examples_seen": 0}
    start, elapsed, step_seconds = 0, 0.0, 0.0
    if resume:
        checkpoint = run_dir.load_checkpoint()
        check_resume(config, checkpoint, run_dir.path, model.num_params, supplied)
        health.restore(checkpoint.get("health"))
        start, elapsed = checkpoint["step"], checkpoint["elapsed"]
        step_seconds, totals = checkpoint["step_seconds"], {**totals, **checkpoint["totals"]}
        params = checkpoint["params"].to(device)
        state = _to_device(checkpoint["state"], device)
        started_on = checkpoint.get("device_type", device.type)
        if started_on != device.type and comm.rank == 0:
            print(
                f"note: resuming on {device.type}, the run started on {started_on}; random "
                "streams depend on the device type, so the continuation is a valid run but not "
                "bit-identical to an uninterrupted one",
                file=sys.stderr,
            )
        if comm.rank == 0:
            run_dir.truncate_metrics(start)
    elif comm.rank == 0:
        run_dir.create(
            {
                **config_record(config, supplied),
                "objective": trainer.objective,
                "num_params": model.num_params,
            }
        )
    comm.barrier()
    health.begin(params)
    saved = start  # the update of the last checkpoint

    def checkpoint_now(step: int) -> None:
        nonlocal saved
        if comm.rank == 0:
            run_dir.save_checkpoint(
                {
                    "step": step,
                    "params": params.cpu(),
                    "state": _to_device(state, "cpu"),
                    "elapsed": elapsed + time.perf_counter() - clock,
                    "step_seconds": step_seconds,
                    "totals": totals,
                    "config": recorded(config.to_dict()),  # no Python functions
                    "device_type": device.type,
                    "health": health.state(),
                }
            )
        saved = step

    signal_batch = (
        probe_batch(dataset, config.seed, SIGNAL_EXAMPLES) if config.signal_every else None
    )
    board = None
    if config.tensorboard and comm.rank == 0:  # events past the checkpoint are dropped
        board = open_board(run_dir.path, purge_step=start + 1 if resume else None)
    train_size = int(dataset.train_x.shape[0])
    clock = time.perf_counter()
    done = start
    last_eval: dict = {}
    shown: dict = {}  # the progress bar's postfix
    bar = tqdm(
        total=config.steps,
        initial=start,
        disable=config.quiet or comm.rank != 0,
        unit="update",
        dynamic_ncols=True,
    )
    try:
        for k in range(start, config.steps):
            stop = signals.stop_requested(comm)  # a signal on any rank: all stop here
            if stop is not None and _writable(trainer, state, comm):
                raise stop
            batch = dataset.minibatch(config.seed, k, config.batch_size)
            # further minibatch streams of step k (eSGD's inner steps, rSGD's replicas)
            draw = partial(dataset.minibatch, config.seed, k, config.batch_size)
            problem = Problem(model, batch, draw, train_size)
            train_loss = float(model.losses(params.unsqueeze(0), batch)[0])
            tick = time.perf_counter()
            new_params, new_state, record = trainer.step(k, params, state, problem, comm)
            step_seconds += time.perf_counter() - tick
            if not bool(torch.isfinite(new_params).all()):
                raise DivergedError(
                    f"update {k + 1}: the parameters became non-finite; lower {flag('lr')} or "
                    f"{flag('tau')}"
                )
            entry = {
                "step": k + 1,
                "time": elapsed + time.perf_counter() - clock,
                "train_loss": train_loss,
                **record,
            }
            if _due(k + 1, config.eval_every, config.steps):
                last_eval = evaluate(model, new_params, dataset.test_x, dataset.test_y)
                entry["test_accuracy"] = last_eval["accuracy"]
                entry["test_loss"] = last_eval["loss"]
                entry["test_errors"] = last_eval["errors"]
                shown.update(loss=f"{train_loss:.3f}", acc=f"{last_eval['accuracy']:.3f}")
                bar.set_postfix(shown)
            if signal_batch is not None and _due(k + 1, config.signal_every, config.steps):
                entry.update(signal_record(model, new_params, signal_batch))
            if comm.rank == 0:
                run_dir.append_metrics(entry)
                if board is not None:
                    board.write(entry)
            # the step counts as done once its metrics line is written: an interrupt before
            # this point checkpoints the previous step, and resume truncates the extra line
            new_totals = {key: totals[key] + record[key] for key in totals}
            params, state, done, totals = new_params, new_state, k + 1, new_totals
            if _due(done, config.checkpoint_every, config.steps):
                checkpoint_now(done)
            _watch(health, done, entry, params, bar, shown, config, checkpoint_now, comm)
            bar.update(1)
    except (KeyboardInterrupt, RunWriteError):
        if done > saved and _writable(trainer, state, comm, agreed=_agreed(sys.exc_info()[1])):
            # the last completed update is not lost (if the disk allows)
            try:
                checkpoint_now(done)
            except RunWriteError:
                pass
        if _agreed(sys.exc_info()[1]):
            comm.barrier()  # every rank stopped here: rank 0's checkpoint is written first
        raise
    finally:
        bar.close()
        if board is not None:
            board.close()

    if not last_eval:
        last_eval = evaluate(model, params, dataset.test_x, dataset.test_y)
    total_time = elapsed + time.perf_counter() - clock
    summary = {
        "final_test_accuracy": last_eval["accuracy"],
        "final_test_loss": last_eval["loss"],
        "final_test_errors": last_eval["errors"],
        "steps": done,
        "seconds_per_update": step_seconds / done if done else math.nan,
        "total_seconds": total_time,
        "objective": trainer.objective,
        "method": config.method,
        "model": config.model,
        "num_params": model.num_params,
        "ranks": comm.size,
        "device": str(device),
        **{f"total_{k}": v for k, v in totals.items()},
        **{f"dataset_{k}": v for k, v in dataset.info.items() if isinstance(v, (int, float))},
        "warnings": health.summary(),
        "metadata": run_metadata(comm, device, started),
    }
    if comm.rank == 0:  # the parameters as a state_dict first: a summary marks a run done
        save_state_dict(model_state_dict(model, params.cpu()), run_dir.path / STATE_DICT)
        run_dir.write_summary(summary)
    return RunResult(params, summary, run_dir.path, model)


def _writable(trainer, state, comm: Comm, agreed: bool = True) -> bool:
    """Whether rank 0's ``state`` is a complete checkpoint (a trainer may say it is not, e.g.
    Replicated-SGD between two couplings under MPI: its stop then waits for the next
    coupling). ``agreed``: every rank asks together (rank 0's answer is broadcast)."""
    check = getattr(trainer, "checkpoint_complete", None)
    complete = check is None or comm.rank != 0 or bool(check(state))
    return comm.bcast(complete) if comm.size > 1 and agreed else complete


def _agreed(error: BaseException | None) -> bool:
    return bool(getattr(error, "agreed", False))


def _watch(health, step, entry, params, bar, shown, config, checkpoint_now, comm) -> None:
    """``sampler.training.health`` after update ``step``: the first firing of a check is a line on
    stderr, an active one shows in the progress bar; a divergence with
    ``--stop-on-divergence`` checkpoints this update and stops the run."""
    first = set(health.fired)
    fired = health.observe(step, entry, params)
    for check, message in fired:
        if comm.rank == 0 and check.name not in first:
            tqdm.write(f"warning: update {step}: {message}; {check.fix}", file=sys.stderr)
    if health.active != shown.get("warn", "").split(",") and (health.active or "warn" in shown):
        if health.active:
            shown["warn"] = ",".join(health.active)
        else:
            shown.pop("warn")
        bar.set_postfix(shown, refresh=False)
    diverged = [(c, m) for c, m in fired if c.divergence]
    if diverged and config.stop_on_divergence:
        check, message = diverged[0]
        checkpoint_now(step)
        comm.barrier()
        raise DivergenceStop(
            f"update {step}: stopped by --stop-on-divergence: {message}; {check.fix} (the "
            f"checkpoint of update {step} is kept in {config.out})"
        )


def _to_device(state, device):
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {k: _to_device(v, device) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_device(v, device) for v in state)
    return state
