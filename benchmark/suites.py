"""Named YAML suites: validated once at the edge, then expanded into trials (one RunConfig each).

A suite file:

    name: quickstart                  # optional; default: the file's stem
    description: ...
    experiments:
      - task: mnist3
        forecasters: [none, introspection, {name: extrapolate, ratio: [1.3, 2.0]}]
        jumps: [6000, 8000, 10000]    # or a list of lists, or
        # schedule: {first: [12000, 15000], interval: [3000, 5000], count: [2, 3]}
        seeds: [0, 1, 2]              # or a count: 3
        target: baseline_max          # or an accuracy in (0, 1]; default: the task's
        steps: 15000                  # and eval_every, reduced, reset_optimizer, optimizer: "adam:1e-4"
        stop_at_target: true          # end each trial at its target (also a suite-wide key; `--stop-at-target`)
        precision: bf16               # and channels_last, deterministic, history_on_host, chunk_size, guard,
                                      # gate, settle_steps: also suite-wide keys (how trials compute, jump and
                                      # hold their history); an experiment's guard may be a list:
                                      # [false, true, line, settle]; settle_steps (default 500) is how long the
                                      # settling guard waits, for the trials with guard settle
        samples: 4                    # with {uniform: [lo, hi]} / {loguniform: ..} / {choice: [..]} values

A list as a forecaster parameter is a grid; a {uniform|loguniform|choice} value is sampled ``samples``
times from a seed fixed by the suite, so a resumed suite sees the very same trials.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .config import GUARD_VALUES, SETTLE_STEPS_ROLE, RunConfig, is_guard
from .errors import ConfigError, IntrobenchError

# How trials compute and execute, suite-wide or per experiment (an experiment's own value wins).
RUN_SETTINGS = {"precision": ("fp32", "bf16"), "channels_last": bool, "deterministic": bool,
                "history_on_host": bool, "chunk_size": int, "guard": "guard", "gate": float, "settle_steps": int}
SUITE_KEYS = {"name", "description", "experiments", "paper", "stop_at_target", *RUN_SETTINGS}
EXPERIMENT_KEYS = {"task", "forecasters", "jumps", "schedule", "seeds", "target", "steps", "eval_every", "reduced",
                   "reset_optimizer", "optimizer", "samples", "stop_at_target", "search", *RUN_SETTINGS}
SEARCH_KEYS = {"samples", "algorithm", "scheduler", "objective", "seed", "space"}
SEARCH_CHOICES = {"algorithm": ("tpe", "random"), "scheduler": ("fifo", "asha"),
                  "objective": ("steps_to_target", "accuracy")}
SPACE_KINDS = {"int", "uniform", "loguniform", "choice"}
SCHEDULE_KEYS = {"first", "interval", "count"}
SAMPLERS = {"uniform", "loguniform", "choice"}


class SuiteError(ConfigError):
    pass


@dataclass(frozen=True)
class Trial:
    suite: str
    suite_path: str
    key: str
    label: str
    experiment: int
    config: RunConfig
    target_mode: str  # "fixed" or "baseline_max" (target filled in from the experiment's baselines)

    def to_dict(self) -> dict:
        return {"suite": self.suite, "suite_path": self.suite_path, "key": self.key, "label": self.label,
                "experiment": self.experiment, "target_mode": self.target_mode, "run": self.config.to_dict()}


@dataclass
class Suite:
    name: str
    path: str
    description: str
    experiments: list[dict]
    paper: dict = field(default_factory=dict)  # paper numbers to show beside ours in reports
    stop_at_target: bool = False  # `suite run --stop-at-target`: every experiment's trials end at their target

    def run_config(self, exp: dict, **what) -> RunConfig:
        """One trial's RunConfig: the experiment's settings (over the suite's) and ``what`` it runs."""
        settings = {k: exp[k] for k in RUN_SETTINGS if k in exp and k not in what}
        if isinstance(settings.get("guard"), list):  # a grid over guard: _expand gives each trial its own
            settings.pop("guard")
        if what.get("guard", settings.get("guard")) != "settle":  # the settling guard's wait: its trials only
            settings.pop("settle_steps", None)
        return RunConfig(task=exp["task"], steps=exp.get("steps"), eval_every=exp.get("eval_every"),
                         reduced=exp.get("reduced", False), reset_optimizer=exp.get("reset_optimizer", False),
                         optimizer=exp.get("optimizer"),
                         stop_at_target=exp.get("stop_at_target", False) or self.stop_at_target, **settings, **what)

    def searches(self) -> list[Search]:
        out = []
        for i, exp in enumerate(self.experiments):
            if not exp.get("search"):
                continue
            sch = exp["search"]
            target = exp.get("target")
            mode = "baseline_max" if target == "baseline_max" else "fixed"
            for spec in exp["forecasters"]:
                if spec["name"] == "none":
                    continue
                fixed = {k: v for k, v in spec["params"].items() if not isinstance(v, (list, dict))}
                base = self.run_config(exp, forecaster=spec["name"], forecaster_params=fixed,
                                       jumps=exp["schedules"][0], seed=sch["seed"],
                                       target=target if mode == "fixed" else None)
                out.append(Search(self.name, self.path, i, base, sch["space"], sch["samples"], sch["algorithm"],
                                  sch["scheduler"], sch["objective"], tuple(exp["seeds"]), mode))
        return out

    def trials(self) -> list[Trial]:
        out = []
        for i, exp in enumerate(self.experiments):
            out.extend(_expand(self, i, exp))
        keys = [t.key for t in out]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            label = next(t.label for t in out if t.key == dup)
            raise SuiteError("experiments", f"the same trial appears twice ({label})", self.path)
        return out


@dataclass(frozen=True)
class Search:
    """A search (Ray Tune + Optuna) over one jumping forecaster's schedule and parameters in one experiment:
    ``samples`` trials on seed ``seed``, then the best one found re-run on every seed of the experiment."""

    suite: str
    suite_path: str
    experiment: int
    base: RunConfig  # the forecaster, its fixed parameters, the task's settings, seed = the search seed
    space: dict  # name -> {kind: args}; first/interval/count make the jump schedule, the rest are parameters
    samples: int
    algorithm: str
    scheduler: str
    objective: str
    seeds: tuple[int, ...]
    target_mode: str

    @property
    def name(self) -> str:
        return f"{self.suite}/{self.experiment}/{self.base.forecaster}"

    @property
    def trials(self) -> int:
        """Every trial the search makes: its samples, then the best one on each seed."""
        return self.samples + len(self.seeds)

    def to_dict(self) -> dict:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "base": self.base.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Search":
        return cls(**{**d, "base": RunConfig.from_dict(d["base"]), "seeds": tuple(d["seeds"])})

    def config(self, sampled: dict, seed: int | None = None) -> RunConfig:
        """The run a sample stands for: its schedule and parameters over the base."""
        params = {**self.base.forecaster_params, **{k: v for k, v in sampled.items() if k not in SCHEDULE_KEYS}}
        jumps = self.base.jumps
        if "first" in sampled:
            jumps = tuple(int(sampled["first"]) + i * int(sampled["interval"]) for i in range(int(sampled["count"])))
        return dataclasses.replace(self.base, forecaster_params=params, jumps=jumps,
                                   seed=self.base.seed if seed is None else seed)

    def trial(self, config: RunConfig, role: str, key: str | None = None) -> Trial:
        prefix = "search: " if role == "search" else "best found: " if role == "confirm" else ""
        return Trial(self.suite, self.suite_path, key or config.key(), prefix + _label(config, config.jumps),
                     self.experiment, config, self.target_mode)


def paper_claim(entry) -> tuple[str, float | None, str | None]:
    """A suite's `paper:` entry for a task: a claim in words, or {claim: ..., speedup: x, differs: ...}: the
    paper's steps-to-target speedup over its baseline when known (a report then says whether ours agrees), and
    what differs from the paper's setting, as checked against its text (a report prints it under the claim;
    a list of sentences, so that a YAML anchor shared by several tasks can be followed by one task's own)."""
    if isinstance(entry, dict):
        differs = entry.get("differs")
        return str(entry.get("claim", "")), entry.get("speedup"), " ".join(differs) if isinstance(differs, list) \
            else differs
    return str(entry), None, None


def builtin_suites() -> dict[str, Path]:
    folder = resources.files("suites")
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def load_suite(name_or_path: str) -> Suite:
    path = Path(name_or_path)
    if not (name_or_path.endswith((".yaml", ".yml")) or path.is_file()):
        known = builtin_suites()
        if name_or_path not in known:
            raise IntrobenchError(f"unknown suite '{name_or_path}'; built-in suites: {', '.join(sorted(known))} "
                                  "(or give a path to a .yaml file)")
        path = known[name_or_path]
    if not path.is_file():
        raise IntrobenchError(f"suite file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SuiteError("yaml", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", str(path)) from None
    return parse_suite(data, str(path), default_name=path.stem)


def parse_suite(data, source: str, default_name: str = "suite") -> Suite:
    def fail(fieldname, message):
        raise SuiteError(fieldname, message, source)

    if not isinstance(data, dict):
        fail("(top level)", f"a suite is a mapping with keys {', '.join(sorted(SUITE_KEYS))}")
    _no_unknown(data, SUITE_KEYS, "", source)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        fail("name", f"must be a non-empty string, got {name!r}")
    exps = data.get("experiments")
    if not isinstance(exps, list) or not exps:
        fail("experiments", "must be a non-empty list of experiments (task x forecasters x schedule x seeds)")
    if not isinstance(data.get("stop_at_target", False), bool):
        fail("stop_at_target", f"must be true or false, got {data['stop_at_target']!r}")
    _check_run_settings(data, "", source)
    paper = data.get("paper") or {}
    if not isinstance(paper, dict):
        fail("paper", f"must map task names to claims, got {paper!r}")
    for task, entry in paper.items():
        if isinstance(entry, dict):
            _no_unknown(entry, {"claim", "speedup", "differs"}, f"paper.{task}.", source)
            differs = entry.get("differs", "")
            if not (isinstance(differs, str) or (isinstance(differs, list) and differs
                                                 and all(isinstance(d, str) for d in differs))):
                fail(f"paper.{task}.differs", f"must be a sentence in words (or a list of them), got {differs!r}")
            sp = entry.get("speedup")
            if sp is not None and not (isinstance(sp, (int, float)) and not isinstance(sp, bool) and sp > 0):
                fail(f"paper.{task}.speedup", f"must be a number > 0 (baseline steps / method steps), got {sp!r}")
        elif not isinstance(entry, str):
            fail(f"paper.{task}", f"must be a claim in words or {{claim, speedup, differs}}, got {entry!r}")
    suite = Suite(name=name, path=source, description=str(data.get("description", "")),
                  experiments=[], paper=paper)
    for i, exp in enumerate(exps):
        exp = _validate_experiment(exp, f"experiments[{i}]", source)
        if "settle_steps" in exp and not _settles(exp.get("guard", data.get("guard"))):
            fail(f"experiments[{i}].settle_steps", f"{SETTLE_STEPS_ROLE}, so it needs guard settle (or a list "
                                                   f"with settle); got guard {exp.get('guard')!r}")
        exp.setdefault("stop_at_target", data.get("stop_at_target", False))  # the suite's key is the default
        for key in RUN_SETTINGS.keys() & data.keys():
            exp.setdefault(key, data[key])
        suite.experiments.append(exp)
    if "settle_steps" in data and not any(_settles(e.get("guard")) for e in suite.experiments):
        fail("settle_steps", f"{SETTLE_STEPS_ROLE}, but no experiment has guard settle")
    suite.trials()  # every trial is built (and so validated) before anything runs
    return suite


def _no_unknown(d: dict, allowed: set, prefix: str, source: str) -> None:
    for key in d:
        if key not in allowed:
            raise SuiteError(f"{prefix}{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}", source)


def _check_run_settings(d: dict, prefix: str, source: str) -> None:
    for key, kind in RUN_SETTINGS.items():
        if key not in d:
            continue
        value = d[key]
        if kind == "guard":  # an experiment may compare guard rules on the same seeds: guard: [false, true, line]
            for v in (value if isinstance(value, list) and value and prefix else [value]):
                if not is_guard(v):
                    raise SuiteError(f"{prefix}{key}", f"must be {GUARD_VALUES} (or, in an experiment, a list of "
                                                       f"them), got {value!r}", source)
            continue
        if kind is bool and not isinstance(value, bool):
            raise SuiteError(f"{prefix}{key}", f"must be true or false, got {value!r}", source)
        if kind is int:
            _int(value, f"{prefix}{key}", source)
        if kind is float and not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1):
            raise SuiteError(f"{prefix}{key}", f"must be a fraction in (0, 1), got {value!r}", source)
        if isinstance(kind, tuple) and value not in kind:
            raise SuiteError(f"{prefix}{key}", f"must be one of {', '.join(kind)}, got {value!r}", source)


def _settles(guard) -> bool:
    return guard == "settle" or (isinstance(guard, list) and "settle" in guard)


def _int(value, fieldname, source, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SuiteError(fieldname, f"must be a whole number >= {minimum}, got {value!r}", source)
    return value


def _validate_experiment(exp, where: str, source: str) -> dict:
    from predictors import create_forecaster, list_forecasters
    from tasks import create_task, list_tasks

    if not isinstance(exp, dict):
        raise SuiteError(where, f"an experiment is a mapping with keys {', '.join(sorted(EXPERIMENT_KEYS))}", source)
    _no_unknown(exp, EXPERIMENT_KEYS, f"{where}.", source)
    if "task" not in exp:
        raise SuiteError(f"{where}.task", f"is required; one of {', '.join(list_tasks())} or timm:<model>", source)
    task_name = exp["task"]
    if not isinstance(task_name, str):
        raise SuiteError(f"{where}.task", f"must be a task name, got {task_name!r}", source)
    try:
        create_task(task_name)
    except IntrobenchError as exc:
        raise SuiteError(f"{where}.task", getattr(exc, "message", str(exc)), source) from None
    for key in ("steps", "eval_every", "samples"):
        if key in exp:
            _int(exp[key], f"{where}.{key}", source)
    _check_run_settings(exp, f"{where}.", source)
    for key in ("reduced", "reset_optimizer", "stop_at_target"):
        if key in exp and not isinstance(exp[key], bool):
            raise SuiteError(f"{where}.{key}", f"must be true or false, got {exp[key]!r}", source)
    seeds = exp.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = list(range(_int(seeds, f"{where}.seeds", source)))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                             for s in seeds):
        raise SuiteError(f"{where}.seeds", f"must be a count or a list of whole numbers >= 0, got {seeds!r}", source)
    target = exp.get("target")
    if target is not None and target != "baseline_max" and not (
            isinstance(target, (int, float)) and not isinstance(target, bool) and 0 < target <= 1):
        raise SuiteError(f"{where}.target", f"must be an accuracy in (0, 1] or 'baseline_max', got {target!r}", source)
    if "jumps" in exp and "schedule" in exp:
        raise SuiteError(f"{where}.schedule", "give either jumps or schedule, not both", source)
    schedules = _schedules(exp, where, source)
    forecasters = exp.get("forecasters")
    if not isinstance(forecasters, list) or not forecasters:
        raise SuiteError(f"{where}.forecasters", f"must be a non-empty list; names: {', '.join(list_forecasters())}",
                         source)
    specs = []
    for j, f in enumerate(forecasters):
        fwhere = f"{where}.forecasters[{j}]"
        if isinstance(f, str):
            f = {"name": f}
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise SuiteError(fwhere, f"must be a name or a mapping with 'name'; names: {', '.join(list_forecasters())}",
                             source)
        if f["name"] not in list_forecasters():
            raise SuiteError(f"{fwhere}.name", f"unknown forecaster '{f['name']}'; allowed: "
                                               f"{', '.join(list_forecasters())}", source)
        params = {k: v for k, v in f.items() if k != "name"}
        for k, v in params.items():
            if isinstance(v, dict) and (len(v) != 1 or next(iter(v)) not in SAMPLERS):
                raise SuiteError(f"{fwhere}.{k}", f"a sampled value is one of {', '.join(sorted(SAMPLERS))}, got {v!r}",
                                 source)
        for combo in _param_grid(params, 1, random.Random(0)):
            try:
                create_forecaster(f["name"], **combo)
            except (IntrobenchError, TypeError) as exc:
                raise SuiteError(f"{fwhere}.{getattr(exc, 'field', 'params')}", getattr(exc, "message", str(exc)),
                                 source) from None
        specs.append({"name": f["name"], "params": params})
    if target == "baseline_max" and not any(s["name"] == "none" for s in specs):
        raise SuiteError(f"{where}.target", "baseline_max needs the baseline 'none' among the forecasters", source)
    if "optimizer" in exp:
        from tasks.base import parse_optimizer

        try:
            parse_optimizer(exp["optimizer"])
        except ConfigError as exc:
            raise SuiteError(f"{where}.optimizer", exc.message, source) from None
    search = _validate_search(exp, where, source, specs, seeds) if "search" in exp else None
    return {**exp, "forecasters": specs, "seeds": seeds, "schedules": schedules, "search": search}


def _validate_search(exp, where, source, specs, seeds) -> dict:
    from tasks import create_task

    sch = exp["search"]
    where = f"{where}.search"
    if not isinstance(sch, dict):
        raise SuiteError(where, f"must be a mapping with keys {', '.join(sorted(SEARCH_KEYS))}", source)
    _no_unknown(sch, SEARCH_KEYS, f"{where}.", source)
    if "samples" not in sch:
        raise SuiteError(f"{where}.samples", "is required: how many trials the search may run", source)
    _int(sch["samples"], f"{where}.samples", source)
    out = {"samples": sch["samples"], "seed": sch.get("seed", seeds[0])}
    _int(out["seed"], f"{where}.seed", source, minimum=0)
    for key, allowed in SEARCH_CHOICES.items():
        out[key] = sch.get(key, allowed[0])
        if out[key] not in allowed:
            raise SuiteError(f"{where}.{key}", f"must be one of {', '.join(allowed)}, got {out[key]!r}", source)
    if not any(s["name"] != "none" for s in specs):
        raise SuiteError(where, "needs a forecaster that jumps among the experiment's forecasters", source)
    space = sch.get("space")
    if not isinstance(space, dict) or not space:
        raise SuiteError(f"{where}.space", "must map first/interval/count and forecaster parameters to "
                                           "{int|uniform|loguniform: [lo, hi]} or {choice: [...]}", source)
    for name, dom in space.items():
        if not (isinstance(dom, dict) and len(dom) == 1 and next(iter(dom)) in SPACE_KINDS):
            raise SuiteError(f"{where}.space.{name}", f"must be one of {', '.join(sorted(SPACE_KINDS))}: "
                                                      f"{{int: [lo, hi]}}, got {dom!r}", source)
        kind, args = next(iter(dom.items()))
        if kind != "choice" and not (isinstance(args, list) and len(args) == 2 and
                                     all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
                                     and args[0] < args[1]):
            raise SuiteError(f"{where}.space.{name}", f"{kind} takes [lo, hi] with lo < hi, got {args!r}", source)
        if kind == "int" and not all(isinstance(a, int) for a in args):
            raise SuiteError(f"{where}.space.{name}", f"int takes whole numbers, got {args!r}", source)
        if kind == "choice" and not (isinstance(args, list) and args):
            raise SuiteError(f"{where}.space.{name}", f"choice takes a non-empty list, got {args!r}", source)
    schedule = [k for k in SCHEDULE_KEYS if k in space]
    if schedule and len(schedule) != 3:
        raise SuiteError(f"{where}.space", "a searched schedule needs all of first, interval and count", source)
    if schedule:
        task = create_task(exp["task"], reduced=exp.get("reduced", False),
                           **({"steps": exp["steps"]} if "steps" in exp else {}))
        for k in SCHEDULE_KEYS:
            if next(iter(space[k])) != "int" or space[k]["int"][0] < 1:
                raise SuiteError(f"{where}.space.{k}", "must be {int: [lo, hi]} with lo >= 1", source)
        last = space["first"]["int"][1] + (space["count"]["int"][1] - 1) * space["interval"]["int"][1]
        if last >= task.steps:
            raise SuiteError(f"{where}.space", f"its latest jump (step {last}) is not before the budget of "
                                               f"{task.steps} steps: narrow first, interval or count", source)
    return {**out, "space": space}


def _schedules(exp, where, source) -> list[tuple[int, ...] | None]:
    if "schedule" in exp:
        sch = exp["schedule"]
        if not isinstance(sch, dict):
            raise SuiteError(f"{where}.schedule", "must be a mapping {first, interval, count}", source)
        _no_unknown(sch, SCHEDULE_KEYS, f"{where}.schedule.", source)
        for k in SCHEDULE_KEYS:
            if k not in sch:
                raise SuiteError(f"{where}.schedule.{k}", "is required (a number or a list of numbers)", source)
        grids = {k: sch[k] if isinstance(sch[k], list) else [sch[k]] for k in SCHEDULE_KEYS}
        for k, values in grids.items():
            for v in values:
                _int(v, f"{where}.schedule.{k}", source)
        return [tuple(f + i * iv for i in range(c))
                for f, iv, c in itertools.product(grids["first"], grids["interval"], grids["count"])]
    if "jumps" not in exp:
        return [None]
    jumps = exp["jumps"]
    lists = jumps if isinstance(jumps, list) and jumps and all(isinstance(j, list) for j in jumps) else [jumps]
    for lst in lists:
        if not isinstance(lst, list) or not all(isinstance(j, int) and not isinstance(j, bool) for j in lst):
            raise SuiteError(f"{where}.jumps", f"must be a list of step numbers or a list of such lists, got {jumps!r}",
                             source)
    return [tuple(lst) for lst in lists]


def _param_grid(params: dict, samples: int, rng: random.Random) -> list[dict]:
    grid_keys = [k for k, v in params.items() if not isinstance(v, dict)]
    sampled = {k: v for k, v in params.items() if isinstance(v, dict)}
    grid = [dict(zip(grid_keys, combo)) for combo in
            itertools.product(*[(params[k] if isinstance(params[k], list) else [params[k]]) for k in grid_keys])]
    if not sampled:
        return grid
    out = []
    for combo in grid:
        for _ in range(samples):
            draw = dict(combo)
            for k, spec in sampled.items():
                kind, arg = next(iter(spec.items()))
                if kind == "choice":
                    draw[k] = rng.choice(arg)
                elif kind == "uniform":
                    draw[k] = round(rng.uniform(*arg), 6)
                else:
                    draw[k] = round(math.exp(rng.uniform(math.log(arg[0]), math.log(arg[1]))), 6)
            out.append(draw)
    return out


def _expand(suite: Suite, index: int, exp: dict) -> list[Trial]:
    from .run import plan

    where = f"experiments[{index}]"
    seed = int(hashlib.sha256(f"{suite.name}/{index}".encode()).hexdigest()[:8], 16)
    rng = random.Random(seed)
    target = exp.get("target")
    mode = "baseline_max" if target == "baseline_max" else "fixed"
    trials = []
    for spec in exp["forecasters"]:
        for params in _param_grid(spec["params"], exp.get("samples", 1), rng):
            jumping = spec["name"] != "none"
            # guard: [false, true] compares unguarded and guarded jumps on the same seeds and baseline
            guards = exp.get("guard", False)
            for jumps, guard in itertools.product(exp["schedules"] if jumping else [None],
                                                  (guards if isinstance(guards, list) else [guards]) if jumping
                                                  else [False]):
                for s in exp["seeds"]:
                    config = suite.run_config(exp, forecaster=spec["name"], forecaster_params=params, jumps=jumps,
                                              seed=s, target=target if mode == "fixed" else None, guard=guard)
                    try:
                        plan(config)
                    except ConfigError as exc:
                        raise SuiteError(f"{where}.{exc.field}", exc.message, suite.path) from None
                    label = _label(config, jumps)
                    trials.append(Trial(suite.name, suite.path, config.key(), label, index, config, mode))
    return trials


def _label(config: RunConfig, jumps) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(config.forecaster_params.items()))
    fc = f"{config.forecaster}({params})" if params else config.forecaster
    sched = f" @{'/'.join(map(str, jumps))}" if jumps else ""
    opt = f" [{config.optimizer}]" if config.optimizer else ""
    from .scoring import variant_marks

    return f"{config.task}{opt} {fc}{sched}{variant_marks(config.to_dict())} s{config.seed}"
