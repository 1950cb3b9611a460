"""The run loop of ``sampler train``: minibatch(k) -> trainer step -> log -> checkpoint.

Every rank runs the loop on identical parameters (the estimators' collectives return the same
numbers to every rank); rank 0 alone writes the run directory and shows the progress bar.
Resuming loads the checkpoint and continues; since every random draw is a function of
(seed, stream, step, index), the resumed run gives the parameters of an uninterrupted one.
An interrupted run (Ctrl-C) writes a checkpoint of its last completed step before it stops.
The Python API (``sampler.api``) runs this same loop on a model and data set it built itself.
"""

from __future__ import annotations

import math
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from sampler.config import ConfigError, RunConfig, config_record, flag
from sampler.evaluation import evaluate
from sampler.export import STATE_DICT, save_state_dict
from sampler.flatness.layer_signal import SIGNAL_EXAMPLES, signal_record
from sampler.flatness.probe_set import probe_batch
from sampler.mc_error import NoiseWatch
from sampler.models import DATASETS, DataOptions, model_spec
from sampler.models.interface import model_state_dict
from sampler.mpi import Comm, rank_device, set_threads
from sampler.problem import Problem
from sampler.run_directory import RunDirectory
from sampler.run_metadata import run_metadata
from sampler.schedules import recorded
from sampler.tensorboard_log import open_board
from sampler.trainers import build_trainer
from sampler.warm_start import load_initial_params


class DivergedError(RuntimeError):
    pass


@dataclass
class RunResult:
    params: torch.Tensor
    summary: dict
    out: Path | None
    model: object = None  # the flat-vector model the run trained


def default_out(config: RunConfig) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    model = re.sub(r"[^\w.-]+", "-", config.model)  # keras:MODULE:FACTORY -> keras-MODULE-...
    return str(Path("runs") / f"{stamp}-{config.baseline or config.estimator}-{model}")


def data_options(config: RunConfig) -> DataOptions:
    return DataOptions(config.data_dir, config.data_seed, dict(config.data_options))


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def train(
    config: RunConfig, comm: Comm, resume: bool = False, model=None, dataset=None
) -> RunResult:
    """Run (or continue, with ``resume``) the training that ``config`` describes. A ``model``
    or ``dataset`` given (by ``sampler.api``) replaces the one ``config`` names."""
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
        model = spec(dataset.input_shape, dataset.num_classes, **config.model_options)
    elif hasattr(model, "to"):  # a module's buffers go where the data are
        model = model.to(device)
    trainer = build_trainer(config, model)
    if config.out is None:
        config.out = comm.bcast(default_out(config) if comm.rank == 0 else None)
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

    def checkpoint_now(step: int) -> None:
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
                }
            )

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
    noise_watch = NoiseWatch(config.estimator) if config.baseline is None else None
    warning = None
    postfix: dict[str, str] = {}
    bar = tqdm(
        total=config.steps,
        initial=start,
        disable=config.quiet or comm.rank != 0,
        unit="update",
        dynamic_ncols=True,
    )
    try:
        for k in range(start, config.steps):
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
                postfix.update(loss=f"{train_loss:.3f}", acc=f"{last_eval['accuracy']:.3f}")
                bar.set_postfix(postfix)
            if signal_batch is not None and _due(k + 1, config.signal_every, config.steps):
                entry.update(signal_record(model, new_params, signal_batch))
            if noise_watch is not None and warning is None:
                warning = noise_watch.update(k + 1, entry)
                if warning is not None:
                    postfix["warning"] = "Monte Carlo error dominates"
                    bar.set_postfix(postfix)
                    if comm.rank == 0 and not config.quiet:
                        tqdm.write(f"warning: {warning}", file=sys.stderr)
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
            bar.update(1)
    except KeyboardInterrupt:
        if done > start:
            checkpoint_now(done)
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
        "warnings": [warning] if warning else [],
        "metadata": run_metadata(comm, device, started),
    }
    if comm.rank == 0:  # the parameters as a state_dict first: a summary marks a run done
        save_state_dict(model_state_dict(model, params.cpu()), run_dir.path / STATE_DICT)
        run_dir.write_summary(summary)
    return RunResult(params, summary, run_dir.path, model)


def _to_device(state, device):
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {k: _to_device(v, device) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_device(v, device) for v in state)
    return state
