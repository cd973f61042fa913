"""Choosing part of a suite's trials: by task (`--tasks`), by variant (`--only`) and by seed (`--seeds`), for
`suite run` and `suite status` alike."""

from __future__ import annotations

import fnmatch

from .errors import IntrobenchError
from .suites import Trial


def seed_ranges(seeds) -> str:
    """[0, 1, 2, 3, 7, 9, 10] -> 's0-s3, s7, s9-s10'."""
    seeds = sorted(set(seeds))
    runs: list[list[int]] = []
    for s in seeds:
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return ", ".join(f"s{r[0]}" if len(r) == 1 else f"s{r[0]}-s{r[-1]}" for r in runs)


def select(trials: list[Trial], tasks: tuple[str, ...] = (), only: tuple[str, ...] = (),
           seeds: tuple[int, ...] = ()) -> list[Trial]:
    """What `suite run` and `suite status` were asked for: the trials of these tasks, variants (with their
    experiments' baselines) and seeds; each left empty takes them all."""
    return select_seeds(select_variants(select_tasks(trials, tasks), only), seeds)


def select_seeds(trials: list[Trial], seeds: tuple[int, ...], baselines: bool = True) -> list[Trial]:
    """The trials of these seeds: a run that fits a walltime (two seeds' trials in one slot, the rest in the
    next) or that finishes the seeds a cell lacks. Where a chosen jumped trial's target is ``baseline_max``, every
    seed's baseline of its experiment comes along (``baselines``): that target is their max, and the trial cannot
    start without it."""
    if not seeds:
        return trials
    known = {t.config.seed for t in trials}
    unknown = sorted(set(seeds) - known)
    if unknown:
        raise IntrobenchError(f"--seeds: the trials chosen have no seed {', '.join(map(str, unknown))}; their seeds: "
                              f"{seed_ranges(known)}")
    picked = [t for t in trials if t.config.seed in seeds]
    waiting = {t.experiment for t in picked if t.target_mode == "baseline_max" and t.config.forecaster != "none"}
    return [t for t in trials if t.config.seed in seeds
            or (baselines and t.experiment in waiting and t.config.forecaster == "none")]


def select_searches(searches: list, tasks: tuple[str, ...] = (), only: tuple[str, ...] = (),
                    seeds: tuple[int, ...] = ()) -> list:
    """The suite's searches that a selection takes: those of its tasks. A search is neither a variant nor a seed,
    so --only and --seeds leave every one for a later run."""
    if only or seeds:
        return []
    return [x for x in searches if not tasks or x.base.task in tasks]


def select_tasks(trials: list[Trial], tasks: tuple[str, ...]) -> list[Trial]:
    if not tasks:
        return trials
    known = sorted({t.config.task for t in trials})
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise IntrobenchError(f"--tasks: the suite has no task {', '.join(map(repr, unknown))}; its tasks: "
                              f"{', '.join(known)}")
    return [t for t in trials if t.config.task in tasks]


def trial_variant(trial: Trial) -> str:
    """A trial's label without its task and seed: 'deltanet(ratio=2.0) +guard', 'none', '[adam:1e-4] none'."""
    cfg = trial.config
    return trial.label.removeprefix(cfg.task).removesuffix(f" s{cfg.seed}").strip()


def variant_matches(variant: str, pattern: str) -> bool:
    """A variant named exactly, or by a glob whose wildcards are * and ?; a bracket is literal, since labels carry
    them ('[adam:1e-4] none', '... [channels_last=True]') and a character class would never match those."""
    return variant == pattern or fnmatch.fnmatchcase(variant, pattern.replace("[", "[[]"))


def select_variants(trials: list[Trial], only: tuple[str, ...], baselines: bool = True) -> list[Trial]:
    """The trials of the variants named in ``only`` (each a variant as trial_variant spells it, or a glob), and
    (``baselines``) the baselines of their experiments, which every target and paired speedup needs."""
    if not only:
        return trials
    names = {t.key: trial_variant(t) for t in trials}
    hits = {p: {v for v in set(names.values()) if variant_matches(v, p)} for p in only}
    unknown = [p for p, found in hits.items() if not found]
    if unknown:
        variants = sorted(set(names.values()))
        # a variant named without the settings its label goes on with ('[channels_last=True]', '+guard')
        near = [v for p in unknown for v in variants if v.startswith(p + " ")]
        hint = (f" (with their settings: {'; '.join(near[:3])}{' ...' if len(near) > 3 else ''}; a glob "
                f"{unknown[0] + ' *'!r} takes them all)") if near else ""
        raise IntrobenchError(f"--only: no variant of the suite matches {', '.join(map(repr, unknown))}{hint}; its "
                              f"variants: " + "; ".join(variants[:30]) + (" ..." if len(variants) > 30 else ""))
    wanted = set().union(*hits.values())
    experiments = {t.experiment for t in trials if names[t.key] in wanted}
    return [t for t in trials if names[t.key] in wanted
            or (baselines and t.config.forecaster == "none" and t.experiment in experiments)]
