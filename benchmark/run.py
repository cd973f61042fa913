"""One run: RunConfig -> task + forecaster + jump schedule -> training loop -> RunResult (and a run folder)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from . import loop
from .bank import BankRecorder
from .checkpoint import CHECKPOINT_EVERY, Checkpoint
from .config import SETTLE_STEPS, RunConfig
from .data import dataset_spec, load_dataset
from .environment import available_cpus, platform_of
from .forks import ForkWriter, forks_folder, prefix_key, source_of
from .forks import load as load_fork
from .jumps import JumpEngine, PlateauGate
from .recorder import HistoryRecorder

RUN_FILE = "run.json"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from .errors import ConfigError

        raise ConfigError("device", "cuda was asked for but torch sees no CUDA device; use cpu or auto")
    return torch.device(name)


def plan(config: RunConfig):
    """Validate everything about a run before any data is read or any step is taken."""
    from predictors import create_forecaster
    from tasks import create_task

    overrides = {k: v for k, v in (("steps", config.steps), ("eval_every", config.eval_every)) if v is not None}
    if config.optimizer:
        from tasks.base import parse_optimizer

        # the paper's optimizer swap keeps the task's budget but drops its learning-rate schedule
        overrides["optimizer"], overrides["optimizer_desc"] = parse_optimizer(config.optimizer)
        overrides["schedule"] = None
    for name in ("precision", "channels_last"):  # how the task computes, when a run or suite says otherwise
        if getattr(config, name) is not None:
            overrides[name] = getattr(config, name)
    task = create_task(config.task, reduced=config.reduced, **overrides)
    forecaster = create_forecaster(config.forecaster, **config.forecaster_params)
    jumps = tuple(config.jumps) if config.jumps is not None else task.jumps
    if forecaster.jumps:
        from .jumps import validate_jumps

        jumps = validate_jumps(jumps, task.steps, forecaster.fractions)
    else:
        jumps = ()
    target = config.target if config.target is not None else task.target
    if config.gate is not None:
        PlateauGate(config.gate)  # a bad threshold fails here, naming the field
    if config.guard and not dataset_spec(task.dataset).in_memory:
        from .errors import ConfigError

        raise ConfigError("guard", f"guarded jumps need an in-memory dataset; {task.dataset} is streamed")
    return task, forecaster, jumps, target


def resolved_config(config: RunConfig) -> dict:
    """The run's settings as it really trains: the task's defaults filled in (what W&B's config shows)."""
    from .data import resolve_data_dir

    task, forecaster, jumps, target = plan(config)
    return {**config.to_dict(), "steps": task.steps, "eval_every": task.eval_every, "jumps": list(jumps),
            "target": target, "forecaster_params": forecaster.params(), "optimizer": config.optimizer or
            task.optimizer_desc, "batch_size": task.batch_size, "dataset": task.dataset,
            "data_dir": str(resolve_data_dir(config.data_dir)), "image_size": task.image_size,
            "precision": task.precision, "channels_last": task.channels_last, "guard": config.guard,
            "gate": config.gate}


def run(config: RunConfig, *, progress: bool = True, out_dir: str | os.PathLike | None = None,
        on_eval=None, on_jump=None, checkpoint: str | os.PathLike | None = None,
        checkpoint_every: float = CHECKPOINT_EVERY, deadline: float | None = None,
        forks: str | os.PathLike | None = None, fork_points: dict[int, list[int]] | None = None,
        forks_only: bool = False, stop: str | os.PathLike | None = None) -> loop.RunResult:
    """One run. Given a ``checkpoint`` file, it resumes from the state saved there by an earlier, interrupted run
    of the same config (its evaluations and jumps replayed to ``on_eval`` and ``on_jump``), saves its state there
    every ``checkpoint_every`` seconds, and deletes the file once it has ended (given a ``deadline`` too, in
    seconds since the epoch, a run still training then saves and raises TrialCut instead, as it does once the
    file ``stop`` exists); the summary's
    ``checkpoint_note`` says, in one line, what became of a checkpoint found (resumed, or why not).

    ``forks``, a results folder (with a ``checkpoint``): a jumped run with no checkpoint of its own starts from
    its baseline's fork there when there is one (benchmark.forks), and a baseline given ``fork_points`` (fork
    point -> snapshot steps up to it) writes them there (``forks_only``: and stops after the last, raising
    ForksWritten)."""
    task, forecaster, jumps, target = plan(config)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    workers = config.data_workers if config.data_workers is not None else available_cpus()
    data = load_dataset(task.dataset, config.data_dir, image_size=task.image_size, train_subset=task.train_subset,
                        test_subset=task.test_subset, subset=task.subset, device=device, workers=workers,
                        progress=progress)
    torch.manual_seed(config.seed)
    # Set for every run, never left from the one before: deterministic kernels only when asked (slower).
    torch.backends.cudnn.deterministic = config.deterministic
    torch.backends.cudnn.benchmark = not config.deterministic
    model = task.model(data.num_classes).to(device)
    if task.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = task.optimizer([p for p in model.parameters() if p.requires_grad])
    scheduler = task.schedule(optimizer) if task.schedule else None
    spec = loop.LoopSpec(steps=task.steps, batch_size=task.batch_size, eval_every=task.eval_every, target=target,
                         metric=task.metric, augment=task.augment, image_size=task.image_size,
                         normalize=dataset_spec(task.dataset).normalize if task.normalize else None,
                         stop_at_target=config.stop_at_target, precision=task.precision,
                         channels_last=task.channels_last)
    hooks = []
    gate = PlateauGate(config.gate) if config.gate is not None and jumps else None
    if jumps:
        guard = loop.loss_probe(data, spec, device, config.seed) if config.guard else None
        engine = JumpEngine(forecaster, jumps, steps=task.steps, history_on_host=config.history_on_host,
                            chunk_size=config.chunk_size, reset_optimizer=config.reset_optimizer,
                            seed=config.seed, on_jump=on_jump, guard=guard,
                            guard_mode=config.guard if isinstance(config.guard, str) else "halve", gate=gate,
                            settle_steps=config.settle_steps or SETTLE_STEPS)
        hooks.append(engine)
    recorder = HistoryRecorder(config.record_every, config.record_weights, config.seed) if config.record_every else None
    if recorder:
        hooks.append(recorder)
    bank = BankRecorder(config.bank_every, config.bank_per_layer, config.seed) if config.bank else None
    if bank:
        hooks.append(bank)
    label = f"{task.name}/{config.forecaster} seed {config.seed}"
    def seen(point: dict) -> None:  # every evaluation: the gate's training signal, then live tracking
        if gate is not None:
            gate.observe(point)
        if on_eval is not None:
            on_eval(point)

    def restored(curve: list[dict], events: list[dict]) -> None:  # a resumed run's past, as it was reported
        for kind, item in loop.logged_order(curve, events):
            if kind == "eval":  # marked: a pace or an ETA counts only the steps this attempt trains
                seen({**item, "restored": True})
            elif on_jump is not None:
                on_jump(item)

    writer, start = None, None
    if forks is not None and checkpoint is not None:
        if fork_points and not jumps:
            prefix = prefix_key(config)
            writer = ForkWriter(forks_folder(forks) / prefix, prefix, fork_points, fresh=not Path(checkpoint).is_file(),
                                only=forks_only)
            hooks.append(writer)
        elif (source := source_of(config, task, forecaster, jumps, forks)) is not None:  # planned above
            def from_fork():  # the baseline's state at the fork point, with the snapshots this run's jumps read
                found = load_fork(source)
                return None if found is None else {**found[0], "hooks": [engine.forked_state(found[1])]}
            start = from_fork
    here = platform_of(device)
    saver = Checkpoint(checkpoint, config.key(), checkpoint_every, deadline=deadline, start=start, stop=stop,
                       platform=here) if checkpoint is not None else None
    result = loop.train(model, optimizer, data, spec, scheduler=scheduler, seed=config.seed, device=device,
                        hooks=hooks, progress=progress, desc=label, on_eval=seen, checkpoint=saver,
                        on_restore=restored, on_grid=writer.at_grid if writer is not None else None)
    if saver is not None and saver.started_from is not None:
        result.summary["forked_from"] = saver.started_from  # its baseline trained the steps before
        result.summary["checkpoint_note"] = f"started from its baseline's fork at step {saver.started_from}"
    elif saver is not None and (saver.note or "resumed_from" in result.summary):
        result.summary["checkpoint_note"] = saver.note or f"resumed from its checkpoint at step " \
                                                          f"{result.summary['resumed_from']}"
    result.summary.update({"task": task.name, "forecaster": config.forecaster,
                           "forecaster_params": forecaster.params(), "jump_points": list(jumps),
                           "seed": config.seed, "device": str(device), "platform": here, "metric": task.metric,
                           # scored on a task it learned from: the leaderboard marks it (a leak, not a result)
                           "trained_on_task": task.name in forecaster.trained_on})
    if saver is not None and len(saver.platforms) > 1:  # cut on one machine, resumed on another
        result.summary["platforms"] = saver.platforms
    if bank:
        result.summary["bank_file"] = str(bank.save(config.bank, {
            "task": task.name, "forecaster": config.forecaster, "seed": config.seed, "key": config.key(),
            "jumps": list(jumps), "steps": task.steps, "dataset": task.dataset, "status": result.summary["status"]}))
    if out_dir is not None:
        save_run(out_dir, config, result, recorder)
    if saver is not None:
        saver.discard()  # the run has ended: its result, not the checkpoint, is what is kept
    return result


def save_run(out_dir, config: RunConfig, result: loop.RunResult, recorder: HistoryRecorder | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if recorder is not None:
        recorder.save(out)
    path = out / RUN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"config": config.to_dict(), "summary": result.summary, "curve": result.curve,
                               "events": result.events}, indent=1))
    os.replace(tmp, path)
    return path


def load_run(folder) -> dict:
    from .errors import IntrobenchError

    path = Path(folder) / RUN_FILE
    if not path.is_file():
        raise IntrobenchError(f"no run in {folder}: {RUN_FILE} is missing (make one with `introbench run ... --out DIR`)")
    return json.loads(path.read_text())
