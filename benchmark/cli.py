"""The `introbench` command line. Every command validates its input first and fails with one clear line."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from .config import CHECKPOINT_EVERY, GUARD_RULES, SETTLE_STEPS
from .errors import IntrobenchError
from .tracking import MODES as WANDB_MODES


def _whole_number(minimum: int):
    """An argparse type for whole numbers >= minimum, with a message that says which."""
    what = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
        return value

    return parse


_positive_int = _whole_number(1)
_non_negative_int = _whole_number(0)


def _jump_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated step numbers like 3000,4000,5000, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _names(text: str) -> tuple[str, ...]:
    """'mnist2, mnist3' -> ('mnist2', 'mnist3')"""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _seeds(text: str) -> tuple[int, ...]:
    """'0-1,4' -> (0, 1, 4)"""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seeds like 2,3 or 2-4, got {part!r}") from None
        if high < low:  # a minus sign never gets here: '-1' splits into '' and '1'
            raise argparse.ArgumentTypeError(f"expected a range low-high, got {part!r}")
        seeds.extend(range(low, high + 1))
    if not seeds:
        raise argparse.ArgumentTypeError(f"expected seeds like 2,3 or 2-4, got {text!r}")
    return tuple(sorted(set(seeds)))


def build_parser() -> argparse.ArgumentParser:
    def plugin_option(default):
        p = argparse.ArgumentParser(add_help=False)
        p.add_argument("--plugin", action="append", default=default, metavar="MODULE_OR_PATH",
                       help="import a module or .py file that registers tasks/forecasters (repeatable)")
        return p

    # The subcommands' copy must not reset what was given before the subcommand.
    common = plugin_option(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="introbench", description="A benchmark suite for weight forecasting.",
                                     parents=[plugin_option([])])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("tasks", parents=[common], help="list the registered tasks")
    sub.add_parser("forecasters", parents=[common], help="list the registered forecasters")
    sub.add_parser("datasets", parents=[common], help="list the registered datasets")

    run = sub.add_parser("run", parents=[common], help="train one task, optionally with a forecaster's jumps")
    run.add_argument("task")
    run.add_argument("--forecaster", default="none")
    run.add_argument("--jumps", type=_jump_list, help="jump points, e.g. 3000,4000,5000 (default: the paper's)")
    run.add_argument("--ratio", type=_float, help="forecast ratio for quadratic / linear_fit / extrapolate / deltanet")
    run.add_argument("--base", type=_float, help="history fraction f for extrapolate (default 0.7)")
    run.add_argument("--std", type=_float, help="noise std for the noise forecaster")
    run.add_argument("--weights", help="a learned forecaster's weights: a file, or a shipped name such as "
                                       "introspection_bank (default: its shipped ones)")
    run.add_argument("--reset-optimizer", action="store_true", help="clear the optimizer state at each jump")
    run.add_argument("--optimizer", help="replace the task's optimizer, e.g. adam:1e-4 (paper 4.4)")
    run.add_argument("--history-on-host", action="store_true", help="keep forecaster snapshots in host memory")
    run.add_argument("--chunk-size", type=_positive_int, help="elements the jump engine forecasts at once")
    run.add_argument("--precision", choices=["fp32", "bf16"], help="bf16: bfloat16 autocast (default: the task's)")
    run.add_argument("--channels-last", action="store_true", default=None,
                     help="channels_last model and batches (default: the task's)")
    run.add_argument("--deterministic", action="store_true", help="deterministic cuDNN kernels (slower)")
    run.add_argument("--bank", help="record this run's weight trajectory into a trajectory bank folder")
    run.add_argument("--bank-every", type=_positive_int, default=100, help="... every N steps (default 100)")
    run.add_argument("--gate", type=_float, help="jump points become candidates: jump at one once the training loss "
                                                 "(its mean over the last 5 evaluation intervals against the 5 "
                                                 "before) fell less than this fraction, e.g. 0.05")
    run.add_argument("--guard", nargs="?", const=True, default=False, choices=GUARD_RULES,
                     help="halve, or undo, a jump that raises the loss on fixed training batches; --guard line: "
                          "keep the fraction of the jump (1, 1/2, 1/4, 1/8, none) with the lowest such loss; "
                          f"--guard settle: train on, and undo the jump {SETTLE_STEPS} steps later (weights and "
                          "optimizer state) if that loss is still above its value before the jump")
    run.add_argument("--settle-steps", type=_positive_int,
                     help=f"with --guard settle: steps to train on before judging a jump (default {SETTLE_STEPS})")
    run.add_argument("--data-workers", type=_non_negative_int,
                     help="DataLoader workers of a streamed dataset (default: this process's CPUs)")
    run.add_argument("--steps", type=_positive_int)
    run.add_argument("--seed", type=_non_negative_int, default=0)
    run.add_argument("--eval-every", type=_positive_int)
    run.add_argument("--target", type=_float, help="target accuracy in (0, 1] (default: the task's)")
    run.add_argument("--reduced", action="store_true", help="the task's CPU smoke budget (seconds)")
    run.add_argument("--stop-at-target", action="store_true",
                     help="end the run at the first evaluation that reaches the target (recorded as stopped_at)")
    run.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    run.add_argument("--threads", type=_positive_int, help="torch threads for this process")
    run.add_argument("--data-dir")
    run.add_argument("--out", help="write run.json (config, summary, curve, jump events) to this folder")
    run.add_argument("--checkpoint", metavar="FILE",
                     help="save the run's state to FILE as it trains, and resume from it if an earlier run of the "
                          "same config left it there (killed halfway); deleted once the run ends")
    run.add_argument("--checkpoint-every", type=_positive_float, metavar="SECONDS",
                     help=f"seconds between checkpoints, taken at evaluations (default {CHECKPOINT_EVERY:g})")
    run.add_argument("--record-every", type=_positive_int,
                     help="record a weight history every N steps into --out (for `introbench analyze`)")
    run.add_argument("--record-weights", type=_positive_int, default=200_000,
                     help="how many weights (a fixed random subset) the history keeps")
    run.add_argument("--compare-baseline", action="store_true",
                     help="also train the baseline (same seed and budget) and report the speedup")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.add_argument("--no-progress", action="store_true")

    sub.add_parser("suites", parents=[common], help="list the built-in suites")
    suite = sub.add_parser("suite", parents=[common], help="run a named suite under Ray Tune")
    suite_sub = suite.add_subparsers(dest="suite_command", required=True, metavar="ACTION")
    srun = suite_sub.add_parser("run", parents=[common], help="run every trial of a suite (NAME or PATH.yaml)")
    srun.add_argument("suite")
    srun.add_argument("--workers", type=_positive_int, default=2, help="concurrent trials (default 2)")
    srun.add_argument("--gpus-per-trial", type=_float, default=0.0, help="a fraction of a GPU per trial, e.g. 0.25")
    srun.add_argument("--cpus-per-trial", type=_positive_int, default=1,
                      help="CPUs per trial: its torch threads and a streamed dataset's loader workers (default 1)")
    srun.add_argument("--address", help="a Ray cluster to run on (default: a local one)")
    srun.add_argument("--resume", action="store_true", help="finish only the trials the store does not hold yet")
    srun.add_argument("--results", default="results", help="results folder (SQLite store, W&B runs, ray.log)")
    srun.add_argument("--data-dir", help="datasets folder for every trial (default: $INTROBENCH_DATA, else the cache)")
    srun.add_argument("--wandb", choices=WANDB_MODES, default="auto",
                      help="auto: online when WANDB_API_KEY is set, else offline")
    srun.add_argument("--storage", help="Ray Tune's storage: a folder or a URI such as s3://bucket/path "
                                        "(default: RESULTS/ray); the results store stays in --results")
    srun.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                      help="where trials train (auto: cuda for trials given --gpus-per-trial, else cpu)")
    srun.add_argument("--tasks", type=_names, default=(),
                      help="run only these tasks' trials now, e.g. mnist2,mnist3 (--resume later runs the rest)")
    srun.add_argument("--only", action="append", default=[], metavar="VARIANT",
                      help="run only this variant's trials now, as its label reads without task and seed, or a glob "
                           "(* and ?; brackets are literal): 'deltanet(ratio=2.0)', 'extrapolate*', '[adam:1e-4]*'; "
                           "repeatable; the baselines of its experiments run "
                           "too, a search does not (--resume later runs the rest)")
    srun.add_argument("--seeds", type=_seeds, default=(),
                      help="run only these seeds' trials now, e.g. 2,3 or 2-4, with their baselines (every seed's "
                           "where a jumped trial's target is baseline_max, their max); a search does not run "
                           "(--resume later runs the rest)")
    srun.add_argument("--redo", action="store_true",
                      help="run the trials --tasks, --only and --seeds name (one is needed; --only's baselines are not "
                           "redone unless it names 'none') again, although the store holds them: on another machine, "
                           "after a fix. Their rows move to the store's `replaced` table, kept there, and they run as "
                           "missing trials do (a cut run's --resume goes on with them)")
    srun.add_argument("--bank", help="record every trial's weight trajectory into this trajectory bank folder")
    srun.add_argument("--reuse", action="append", default=[], metavar="RESULTS",
                      help="copy in, rather than run, each trial this other results folder holds with the same run "
                           "config and seed (another suite's: paper-mnist's mnist1 baselines for beyond), or a longer run "
                           "of which it is the first steps, and the forks its baselines left there; repeatable")
    srun.add_argument("--stop-at-target", action="store_true",
                      help="end every trial at its target (as the suite field stop_at_target: true)")
    srun.add_argument("--retries", type=_non_negative_int, default=1, help="retries of a failed trial")
    srun.add_argument("--time-budget", type=_positive_float, metavar="SECONDS",
                      help="for a walltime-limited job (a 10-minute device command, a cluster slot): trials run "
                           "until SECONDS after the command's start, and one still running then stops at its next "
                           "evaluation, saved for --resume to go on from (a trial with no checkpoint, of a streamed "
                           "dataset or with --checkpoint-every 0, starts only if it will end in time, judged by this "
                           "run's finished trials of its experiment); what did not start stays for --resume")
    srun.add_argument("--checkpoint-every", type=_non_negative_float, default=CHECKPOINT_EVERY, metavar="SECONDS",
                      help="seconds between a trial's checkpoints in RESULTS/checkpoints, so that a trial cut short "
                           f"(a killed command, a lost node) resumes where it was on `--resume` (default "
                           f"{CHECKPOINT_EVERY:g}; 0: none)")
    srun.add_argument("--no-progress", action="store_true")
    srun.add_argument("--json", action="store_true")

    sstat = suite_sub.add_parser("status", parents=[common],
                                 help="what a suite's store holds, what is left, and how long the rest will take")
    sstat.add_argument("suite")
    sstat.add_argument("--results", default="results", help="results folder holding results.sqlite")
    sstat.add_argument("--tasks", type=_names, default=(), help="only these tasks' trials, e.g. mnist2,mnist3")
    sstat.add_argument("--only", action="append", default=[], metavar="VARIANT",
                       help="only this variant's trials (and its experiments' baselines), as in `suite run`")
    sstat.add_argument("--seeds", type=_seeds, default=(), help="only these seeds' trials, e.g. 2,3 or 2-4")
    sstat.add_argument("--reuse", action="append", default=[], metavar="RESULTS",
                       help="as `suite run --reuse`: the trials it would copy from this results folder are not to "
                            "run, and its trials of the same training time those with nothing stored here; repeatable")
    sstat.add_argument("--workers", type=_positive_int, default=2,
                       help="concurrent trials the estimate divides the remaining time by (default 2)")
    sstat.add_argument("--json", action="store_true")

    rep = sub.add_parser("report", parents=[common], help="leaderboards, plots and a performance profile")
    rep.add_argument("--results", action="append", help="results folder holding results.sqlite (default: results;"
                                                        " repeat it to report several stores into one --document)")
    rep.add_argument("--document", help="also write the results document (docs/RESULTS.md) from the template, "
                                        "linking each store's plots")
    rep.add_argument("--suite", help="only this suite (default: every suite in the store)")
    rep.add_argument("--out", help="output folder (default: RESULTS/report)")
    rep.add_argument("--format", default="md,html", help="comma-separated: md, html")
    rep.add_argument("--wandb", choices=WANDB_MODES, default="auto")

    tf = sub.add_parser("train-forecaster", parents=[common],
                        help="train a learned forecaster: the introspection net on N0 (the paper) or on a bank")
    tf.add_argument("--k", type=_float, default=2.0, help="forecast step as a multiple of t (paper: 2.0)")
    tf.add_argument("--linear", action="store_true", help="the net without its ReLU (paper 4.5)")
    tf.add_argument("--out", help="weights file (default: the package's shipped file)")
    tf.add_argument("--n0-steps", type=_positive_int, default=20_000)
    tf.add_argument("--grid", type=_positive_int, default=50, help="record N0's weights every N steps")
    tf.add_argument("--forecaster", choices=["introspection", "deltanet"], default="introspection",
                    help="which net: the paper's, or deltanet (bank only; see `introbench forecasters`)")
    tf.add_argument("--examples", type=_positive_int, help="training examples (paper: 800,000; deltanet: 1,000,000)")
    tf.add_argument("--train-steps", type=_positive_int, help="optimizer steps (paper: 30,000; deltanet: 20,000)")
    tf.add_argument("--loss", choices=["l1", "l2", "huber"], default="l1",
                    help="l1 (the paper's) learns each weight's median future, l2 its mean")
    tf.add_argument("--seed", type=_non_negative_int, default=0)
    tf.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    tf.add_argument("--data-dir")
    tf.add_argument("--histories", help="a run folder in which N0's recorded histories are saved, or reused if there")
    tf.add_argument("--bank", help="train on a trajectory bank's baseline runs (`run/suite run --bank DIR`) instead "
                                   "of N0")
    tf.add_argument("--exclude", type=_names, default=(),
                    help="tasks never trained on (those it will be scored on), e.g. mnist3,fm16; recorded in the "
                         "weights")

    an = sub.add_parser("analyze", parents=[common], help="weight-evolution figures and forecast quality of a run")
    an.add_argument("run_dir", metavar="RUN")
    an.add_argument("--out", help="folder for the PNG figures (default: RUN/analysis)")
    an.add_argument("--json", action="store_true")
    return parser


PATH_ARGS = ("data_dir", "results", "out", "histories", "document", "bank")


def absolute_paths(args: argparse.Namespace) -> argparse.Namespace:
    """Every path the user gave, made absolute here at the edge: Ray runs trials in another working directory,
    so a relative path must mean the same thing there as in `introbench run`. --weights and --plugin also take
    names (a shipped weights file, a module): only an existing file is taken as a path."""
    for name in PATH_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, list):  # a repeatable path option
            setattr(args, name, [str(Path(v).expanduser().resolve()) for v in value])
        elif value:
            setattr(args, name, str(Path(value).expanduser().resolve()))
    if getattr(args, "weights", None) and Path(args.weights).is_file():
        args.weights = str(Path(args.weights).resolve())
    if getattr(args, "plugin", None):
        args.plugin = [str(Path(p).resolve()) if Path(p).is_file() else p for p in args.plugin]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = absolute_paths(parser.parse_args(argv))
    try:
        from .plugins import load_plugins

        load_plugins(args.plugin)
        return COMMANDS[args.command](args)
    except IntrobenchError as exc:
        print(f"introbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("introbench: interrupted", file=sys.stderr)
        return 130


def _of_them(count: int, one: str, many: str) -> str:
    """'1 of them <one>' or 'N of them <many>': the verb agrees with the count."""
    return f"{count} of them {one if count == 1 else many}"


def _table(title: str, columns: list[str], rows: list[list]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not markup: rich would swallow "[adam:1e-4]", "[gate 0.1]" and "[bf16]" as style tags
    table = Table(title=Text(title))
    console = Console() if sys.stdout.isatty() else Console(width=240)  # a log: wide rather than wrapped
    for c in columns:
        table.add_column(Text(c))
    for r in rows:
        table.add_row(*[Text("" if v is None else str(v)) for v in r])
    console.print(table)


def cmd_tasks(args) -> int:
    from tasks import count_parameters, create_task, list_tasks

    from .data import dataset_spec

    rows = []
    for name in list_tasks():
        task = create_task(name)
        classes = dataset_spec(task.dataset).num_classes or 10
        target = f"{task.target:.2%} {task.metric}" if task.target else "-"
        rows.append([name, task.dataset, f"{count_parameters(task.model(classes)):,}", task.optimizer_desc,
                     task.batch_size, f"{task.steps:,}", ",".join(map(str, task.jumps)) or "-", target])
    _table("introbench tasks (also: timm:<model> on CIFAR-10, or timm:<model>@<dataset>, e.g. timm:resnet18@fashion_mnist)",
           ["name", "dataset", "parameters", "optimizer", "batch", "steps", "jumps", "target"], rows)
    return 0


def cmd_datasets(args) -> int:
    from .data import dataset_spec, list_datasets

    rows = []
    for name in list_datasets():
        spec = dataset_spec(name) if not name.endswith("<path>") else None
        rows.append([name, spec.num_classes if spec else "-", spec.layout if spec else "<path>/{train,val}/<class>/*",
                     "memory" if spec and spec.in_memory else "streamed",
                     ", ".join(f"{m:g}/{d:g}" for m, d in zip(spec.mean, spec.std)) if spec else "ImageNet's"])
    _table("introbench datasets", ["name", "classes", "layout under the data folder", "held in", "mean/std"], rows)
    return 0


def cmd_forecasters(args) -> int:
    from predictors import FORECASTERS, forecaster_defaults, list_forecasters

    rows = []
    for name in list_forecasters():
        params = ", ".join(f"{k}={v}" for k, v in forecaster_defaults(name).items()) or "-"
        rows.append([name, params, getattr(FORECASTERS.get(name), "summary", "")])
    _table("introbench forecasters", ["name", "parameters (defaults)", "what it is"], rows)
    return 0


def _run_config(args, forecaster: str | None = None):
    from .config import RunConfig

    params = {k: getattr(args, k) for k in ("ratio", "base", "std", "weights") if getattr(args, k) is not None}
    return RunConfig(task=args.task, forecaster=forecaster or args.forecaster,
                     forecaster_params=params if forecaster is None else {}, jumps=args.jumps, steps=args.steps,
                     seed=args.seed, eval_every=args.eval_every, target=args.target, reduced=args.reduced,
                     reset_optimizer=args.reset_optimizer, optimizer=args.optimizer, history_on_host=args.history_on_host,
                     record_every=args.record_every, record_weights=args.record_weights, device=args.device,
                     data_dir=args.data_dir, threads=args.threads, stop_at_target=args.stop_at_target,
                     precision=args.precision, channels_last=args.channels_last, deterministic=args.deterministic,
                     chunk_size=args.chunk_size, data_workers=args.data_workers, guard=args.guard,
                     settle_steps=args.settle_steps, bank=args.bank, bank_every=args.bank_every, gate=args.gate)


def cmd_run(args) -> int:
    from .run import plan, run

    config = _run_config(args)
    plan(config)  # every bad input fails here, before any data is read
    if args.record_every and not args.out:
        raise IntrobenchError("--record-every needs --out DIR to write the history to")
    if args.checkpoint_every is not None and not args.checkpoint:
        raise IntrobenchError("--checkpoint-every needs --checkpoint FILE to save to")
    result = run(config, progress=not args.no_progress, out_dir=args.out, checkpoint=args.checkpoint,
                 checkpoint_every=args.checkpoint_every or CHECKPOINT_EVERY)
    if result.summary.get("checkpoint_note"):
        print(f"introbench: {result.summary['checkpoint_note']}", file=sys.stderr)
    summary = dict(result.summary, jump_events=result.events)
    if args.compare_baseline and config.forecaster != "none":
        import dataclasses

        from . import scoring

        base_config = dataclasses.replace(_run_config(args, forecaster="none"), record_every=None)
        base = run(base_config, progress=not args.no_progress)
        summary["baseline"] = {k: base.summary[k] for k in ("steps_to_target", "max_accuracy",
                                                              "max_accuracy_step", "final_accuracy")}
        budget = result.summary["steps"]
        paired = scoring.paired_speedup(base.summary["steps_to_target"], summary["steps_to_target"], budget,
                                        config.seed)
        summary["speedup"], summary["speedup_lower_bound"] = paired.value, paired.lower_bound
        # The paper's fixed target may be out of reach of both: also score both against the baseline's own max
        # (not knowable when both stopped at the target).
        top = base.summary["max_accuracy"]
        if not config.stop_at_target:
            mine = scoring.score_run(result.curve, target=top, eval_every=result.summary["eval_every"], steps=budget)
            theirs = scoring.score_run(base.curve, target=top, eval_every=base.summary["eval_every"], steps=budget)
            again = scoring.paired_speedup(theirs["steps_to_target"], mine["steps_to_target"], budget, config.seed)
            summary["vs_baseline_max"] = {"target": top, "baseline_steps": theirs["steps_to_target"],
                                          "steps": mine["steps_to_target"], "speedup": again.value,
                                          "speedup_lower_bound": again.lower_bound}
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    return 0


def _print_summary(summary: dict) -> None:
    rows = [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in summary.items() if k != "jump_events"]
    _table(f"{summary['task']} / {summary['forecaster']}", ["metric", "value"], rows)
    events = summary.get("jump_events")
    if events:
        guarded = any("guard" in e for e in events)
        _table("jumps", ["step", "acc before", "acc after", "mean |change|", "seconds"]
               + (["guard", "loss before / jumped / after"] if guarded else []),
               [[e["step"], f"{e['accuracy_before']:.4f}", f"{e['accuracy_after']:.4f}",
                 f"{e['mean_abs_change']:.3e}", f"{e['seconds']:.4f}"] + (_guard_cells(e) if guarded else [])
                for e in events])


def _guard_cells(event: dict) -> list[str]:
    """A guarded jump's decision (with the scale a line search kept) and the guard's losses: before the jump,
    right after it, and after the rule's last look (the fraction kept, or the loss a settling guard judged)."""
    if "guard" not in event:
        return ["", ""]
    decision = event["guard"] + (f" x{event['scale']:g}" if event["guard"] == "scaled" else "")
    last = event.get("loss_settled", event.get("loss_halved"))
    if "loss_at" in event and event.get("scale"):
        last = event["loss_at"].get(f"{event['scale']:g}")
    losses = [event.get("loss_before"), event.get("loss_jumped"), last]
    return [decision, " / ".join("-" if v is None else f"{v:.4f}" for v in losses)]


def cmd_train_forecaster(args) -> int:
    from predictors.training import DELTANET_RECIPE, PipelineConfig

    from .forecaster_training import train_forecaster, train_on_bank

    if args.exclude and not args.bank:
        raise IntrobenchError("--exclude needs --bank: the paper's recipe trains on N0 alone")
    recipe = dict(DELTANET_RECIPE) if args.forecaster == "deltanet" else {}
    recipe.update({k: v for k, v in (("examples", args.examples), ("train_steps", args.train_steps)) if v})
    if args.forecaster == "deltanet" and (args.linear or args.k != 2.0):
        raise IntrobenchError("--linear and --k are the introspection net's: deltanet has no linear variant and "
                              "takes the horizon as an input")
    cfg = PipelineConfig(k=args.k, linear=args.linear, n0_steps=args.n0_steps, grid=args.grid, seed=args.seed,
                         device=args.device, data_dir=args.data_dir, bank=bool(args.bank), forecaster=args.forecaster,
                         loss=args.loss, **recipe)
    if args.bank:
        if not args.out:
            raise IntrobenchError("--bank needs --out PATH: a bank-trained net never replaces the shipped weights")
        result = train_on_bank(cfg, args.bank, args.exclude, args.out)
    else:
        result = train_forecaster(cfg, out=args.out, histories=args.histories)
    print(json.dumps(result, indent=1))
    return 0


def cmd_analyze(args) -> int:
    from .analysis import analyze

    report = analyze(args.run_dir, out=args.out)
    if args.json:
        print(json.dumps(report))
    return 0


def cmd_suites(args) -> int:
    from .suites import builtin_suites, load_suite

    rows = []
    for name, path in sorted(builtin_suites().items()):
        suite = load_suite(str(path))
        searched = sum(x.trials for x in suite.searches())
        rows.append([name, f"{len(suite.trials())}" + (f" + {searched} searched" if searched else ""),
                     suite.description])
    _table("introbench suites", ["name", "trials", "what it runs"], rows)
    return 0


def cmd_suite(args) -> int:
    from .suites import load_suite

    suite = load_suite(args.suite)  # validated whole before Ray starts
    if args.suite_command == "status":
        return cmd_suite_status(args, suite)
    from .sweep import SweepOptions, run_suite

    if args.stop_at_target:
        import dataclasses

        suite = dataclasses.replace(suite, stop_at_target=True)
    if args.gpus_per_trial < 0 or args.gpus_per_trial > 1 and args.gpus_per_trial != int(args.gpus_per_trial):
        raise IntrobenchError(f"--gpus-per-trial must be a fraction in [0, 1] or a whole number, got {args.gpus_per_trial}")
    if args.device == "cuda" and args.gpus_per_trial <= 0:
        raise IntrobenchError("--device cuda needs --gpus-per-trial > 0, so that Ray gives each trial a GPU")
    if args.device == "cpu" and args.gpus_per_trial > 0:
        raise IntrobenchError("--device cpu with --gpus-per-trial > 0 would hold GPUs no trial uses; drop one")
    opts = SweepOptions(results=args.results, workers=args.workers, gpus_per_trial=args.gpus_per_trial,
                        cpus_per_trial=args.cpus_per_trial, address=args.address, resume=args.resume,
                        wandb=args.wandb, retries=args.retries,
                        progress=not args.no_progress, plugins=tuple(args.plugin), data_dir=args.data_dir,
                        tasks=args.tasks, only=tuple(args.only), seeds=args.seeds, device=args.device,
                        storage=_storage(args.storage), bank=args.bank, reuse=tuple(args.reuse),
                        time_budget=args.time_budget, checkpoint_every=args.checkpoint_every, redo=args.redo)
    outcome = run_suite(suite, opts)
    if args.json:
        print(json.dumps(outcome))
    else:
        _table(f"suite {suite.name}", ["", ""], [[k, v] for k, v in outcome.items()])
    missing = outcome["missing"]
    if outcome["failed"]:
        from .scoring import first_line
        from .store import ResultsStore

        errors = [r["error"] for r in ResultsStore(args.results).rows(suite.name) if r["status"] == "failed"]
        print(f"introbench: {outcome['failed']} trial(s) failed (first: {first_line(errors[0]) if errors else '?'}); "
              f"`introbench report --results {args.results}` lists them, `--resume` reruns them", file=sys.stderr)
        return 1
    if outcome.get("interrupted"):  # Ctrl-C: what ran is saved, and the command says it was stopped
        cut = outcome["cut_at_budget"]
        saved = _of_them(cut, "saved at its last evaluation, where it goes on",
                         "saved at their last evaluation, where they go on")
        print(f"introbench: interrupted: {missing} trial(s) left for `--resume`" + (f" ({saved})" if cut else ""),
              file=sys.stderr)
        return 130
    if missing and outcome["time_budget_spent"] and not outcome["started"]:  # a loop of such slots never ends
        print(f"introbench: the time budget ran out before any trial started: {missing} trial(s) left and none ran; "
              f"give a longer --time-budget than {args.time_budget:g} s", file=sys.stderr)
        return 1
    if missing and outcome["time_budget_spent"]:  # what was asked for: the rest is for the next slot
        cut = outcome["cut_at_budget"]
        left = "not started, so none was cut short"
        if cut:
            left = _of_them(cut, "stopped at the budget's end and resumes from its checkpoint",
                            "stopped at the budget's end and resume from their checkpoints")
            left += ", the rest not started" if cut < missing else ""
        print(f"introbench: the time budget is spent: {missing} trial(s) left for `--resume` ({left})", file=sys.stderr)
        return 0
    if missing:
        print(f"introbench: {missing} trial(s) did not finish; run again with --resume to finish them", file=sys.stderr)
        return 1
    if outcome.get("running_elsewhere"):
        print(f"introbench: {outcome['running_elsewhere']} trial(s) are still running under another `suite run`; "
              f"`introbench suite status {args.suite} --results {args.results}` follows them", file=sys.stderr)
    return 0


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def cmd_suite_status(args, suite) -> int:
    from .environment import this_machine
    from .report import platform_name
    from .selection import seed_ranges
    from .status import suite_status
    from .store import ResultsStore

    store = ResultsStore(args.results)
    status = suite_status(suite, store, tasks=args.tasks, only=tuple(args.only), reuse=tuple(args.reuse),
                          machine=this_machine(), seeds=args.seeds)
    if args.json:
        print(json.dumps(status))
        return 0
    rows = []
    for r in status["rows"]:
        stored = "-" if r["finished"] is None else f"{r['finished']}/{r['diverged']}/{r['failed']}"
        resumes = "".join(f"; s{x['seed']} from {x['step']}" for x in r["resumable"])  # checkpointed
        resumes += "".join(f"; forked at {step}" for step in sorted({x["step"] for x in r["forked"]}))
        missing = (f"{r['missing']} ({seed_ranges(r['missing_seeds'])}{resumes})" if r["missing_seeds"]
                   else str(r["missing"])) if r["missing"] else "-"
        if r["copied"]:
            missing += f" ({seed_ranges(r['copied'])} copied by --reuse)"
        if r["lent_seeds"]:  # their forks copied from a --reuse folder
            missing += f" (forks of {seed_ranges(r['lent_seeds'])} copied by --reuse)"
        if r["prefix_seeds"]:  # stored baselines that train again to write their forks
            missing += (f" ({seed_ranges(x['seed'] for x in r['prefix_seeds'])} again to "
                        f"{max(x['step'] for x in r['prefix_seeds'])} for forks"
                        + "".join(f"; s{x['seed']} at {x['at']}" for x in r["prefix_seeds"] if x["at"] is not None)
                        + ")")
        # *: timed by trials of another machine, which may train at a very different pace
        each = "?" if r["trial_seconds"] is None else f"{r['trial_seconds']:.0f}" + ("" if r["timed_here"] else "*")
        # before its first report a trial's step is not known (a resumed one starts far past 0)
        going = ", ".join(f"s{x['seed']} {x['step'] if x['heard'] else 'starting'}/{x['steps'] or '?'}"
                          for x in r["running"]) or "-"
        rows.append([r["task"], r["variant"], f"{r['trials']}", stored, going, missing, each,
                     _hours(r["left_seconds"]) if r["missing"] or r["running"] or r["prefix_seeds"] else "-"])
    _table(f"suite {suite.name}: {status['store']}" + ("" if status["store_exists"] else " (no store yet)"),
           ["task", "variant", "trials", "finished/diverged/failed", "running (step)", "to run (seeds)", "s per trial",
            "left, 1 worker"], rows)
    left = status["left_seconds"]
    stored = status["trials"] - status["missing"] - status["running"] - status["copied"]
    line = (f"{stored} of {status['trials']} trials stored; "
            + (f"{status['copied']} to copy by --reuse; " if status["copied"] else "")
            + (f"{status['running']} running (`suite run` {', '.join(status['drivers'])}); " if status["running"]
               else "") + f"{status['missing']} to run"
            + (f" ({status['failed']} failed, rerun by --resume)" if status["failed"] else ""))
    if status["missing"] or status["running"]:
        line += (f": about {_hours(left)} on 1 worker, {_hours(left / args.workers)} on {args.workers}"
                 if left else ": no trial stored or running to judge their time by")
        if status["unestimated"] and left:
            line += f", plus {status['unestimated']} trial(s) with nothing comparable stored or running yet"
    if status["missing"]:
        narrowed = "".join([f" --tasks {','.join(args.tasks)}" if args.tasks else "",
                            *(f" --only {shlex.quote(v)}" for v in args.only),
                            f" --seeds {','.join(map(str, args.seeds))}" if args.seeds else "",
                            *(f" --reuse {shlex.quote(r)}" for r in args.reuse)])
        line += (f". `introbench suite run {args.suite} --resume --results {args.results}{narrowed}` runs them"
                 + (" (and leaves the running ones to their run)." if status["running"] else "."))
    print(line)
    if any(r["trial_seconds"] is not None and not r["timed_here"] for r in status["rows"]):
        print(f"* timed by trials of other machines: none stored on this one "
              f"({platform_name({'platform': status['machine']})}) to go by, so these may be far off.")
    return 0


def _storage(text: str | None) -> str | None:
    """A URI (s3://, gs://, file://) as given; a plain path made absolute (Ray wants one)."""
    if not text or "://" in text:
        return text
    return str(Path(text).expanduser().resolve())


def cmd_report(args) -> int:
    from .report import (COLUMNS, GLANCE_COLUMNS, GUARD_COLUMNS, build_report, glance_rows, guard_rows, plain,
                         row_cells, write_document)

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in ("md", "html")]
    if bad or not formats:
        raise IntrobenchError(f"--format takes md and/or html, got {args.format!r}")
    stores = args.results or [str(Path("results").resolve())]
    if len(stores) > 1 and args.out:
        raise IntrobenchError("--out names one report folder: give it with a single --results (several stores each "
                              "write to RESULTS/report)")
    built = []
    for results in stores:
        report = build_report(results, suite=args.suite, out=args.out, formats=formats, wandb_mode=args.wandb)
        built.append((os.path.relpath(results), report))  # as the document names it: from where it was run
        for s in report["suites"]:
            for exp in s["experiments"]:
                _table(f"{s['suite']}: {exp['experiment']} (target {exp['target']})", COLUMNS,
                       [row_cells(e) for e in exp["leaderboard"]])
        print("report: " + ", ".join(str(Path(report["out"]) / f"report.{f}") for f in formats))
    suites = [s for _, report in built for s in report["suites"]]
    guarded = guard_rows(suites)
    if guarded:
        _table("guarded jumps", GUARD_COLUMNS, [[plain(c) for c in row] for row in guarded])
    glance = glance_rows(suites)
    if glance:  # last, where a reader's eye lands: every judged experiment's verdict in a row
        _table("at a glance", GLANCE_COLUMNS, [[plain(c) for c in row] for row in glance])
    if args.document:
        print(f"document: {write_document(built, args.document)}")
    return 0


COMMANDS = {"report": cmd_report, "suites": cmd_suites, "suite": cmd_suite, "tasks": cmd_tasks, "forecasters": cmd_forecasters, "datasets": cmd_datasets, "run": cmd_run,
            "train-forecaster": cmd_train_forecaster, "analyze": cmd_analyze}


if __name__ == "__main__":
    sys.exit(main())
