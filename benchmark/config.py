"""A run's whole configuration: one serialisable object that goes unchanged to Ray, W&B and the store."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from .errors import ConfigError

DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("fp32", "bf16")
# How a run executes, not what it computes: left out of a trial's key, so a store resumes across them.
EXECUTION_FIELDS = ("device", "data_dir", "threads", "history_on_host", "deterministic", "chunk_size", "data_workers",
                    "bank", "bank_every", "bank_per_layer")


def either(words) -> str:
    """'a', 'a or b', 'a, b or c': alternatives in a sentence (an error's allowed values, a report's controls)."""
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


GUARD_RULES = ("line", "settle")  # besides true (halve or undo the jump at once)
GUARD_VALUES = either(("true", "false", *GUARD_RULES))  # for error messages
CHECKPOINT_EVERY = 600.0  # seconds between a run's checkpoints: at most this much training is lost to a kill
SETTLE_STEPS = 500  # how long a settling guard trains on after a jump before it judges it, unless set
SETTLE_STEPS_ROLE = "sets how long the settling guard waits"  # the error phrase of a settle_steps without it


def is_guard(value) -> bool:
    """A guard setting: false, true (halve or undo the jump), "line" (a line search along it) or "settle"
    (judge the jump some steps later, undo it then if the loss is still above its value before it)."""
    return isinstance(value, bool) or value in GUARD_RULES


@dataclass(frozen=True)
class RunConfig:
    task: str
    forecaster: str = "none"
    forecaster_params: dict = field(default_factory=dict)
    jumps: tuple[int, ...] | None = None  # None: the task's paper jump points
    steps: int | None = None  # None: the task's budget
    seed: int = 0
    eval_every: int | None = None
    target: float | None = None  # None: the task's target
    reduced: bool = False  # the task's CPU smoke budget (fewer steps, a data subset, smaller images)
    reset_optimizer: bool = False
    optimizer: str | None = None  # override the task's optimizer: "adam:1e-4" or "sgd:0.01"; None: the paper's
    history_on_host: bool = False  # keep forecaster snapshots in host memory instead of on the device
    record_every: int | None = None  # record a weight history every N steps (for `introbench analyze`)
    record_weights: int = 200_000  # at most this many weights (a fixed random subset) in that history
    device: str = "cpu"
    data_dir: str | None = None
    threads: int | None = None
    stop_at_target: bool = False  # end the run at the first grid evaluation that reaches its target
    precision: str | None = None  # "fp32" or "bf16" (autocast); None: the task's (fp32 for the paper's tasks)
    channels_last: bool | None = None  # channels_last model and batches; None: the task's (off for the paper's)
    deterministic: bool = False  # deterministic cuDNN (slower); off lets cuDNN pick its fastest kernels
    chunk_size: int | None = None  # elements forecast at once by the jump engine; None: sized for the device
    data_workers: int | None = None  # DataLoader workers of a streamed dataset; None: the CPUs given to the run
    # true: a jump that raises the loss on fixed training batches is halved, or undone; "line": the fraction of
    # the jump (1, 1/2, 1/4, 1/8, none) with the lowest such loss is kept; "settle": judged settle_steps later
    guard: bool | str = False
    settle_steps: int | None = None  # guard "settle" only: steps trained on before judging; None: SETTLE_STEPS
    gate: float | None = None  # the schedule's points are candidates: jump once the training loss falls less than this
    bank: str | None = None  # record this run's trajectory into this trajectory bank folder
    bank_every: int = 100  # ... every N steps
    bank_per_layer: int = 256  # ... a fixed random subset of this many weights per layer

    def __post_init__(self):
        if self.jumps is not None:
            object.__setattr__(self, "jumps", tuple(int(j) for j in self.jumps))
        self.validate()
        if self.settle_steps == SETTLE_STEPS:  # the default spelled out is the default: one key, one label
            object.__setattr__(self, "settle_steps", None)

    def validate(self) -> None:
        for name in ("steps", "eval_every", "record_every", "threads", "chunk_size", "bank_every", "bank_per_layer",
                     "settle_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise ConfigError(name, f"must be a positive integer, got {value!r}")
        if not is_guard(self.guard):
            raise ConfigError("guard", f"must be {GUARD_VALUES}, got {self.guard!r}")
        if self.settle_steps is not None and self.guard != "settle":
            raise ConfigError("settle_steps", f"{SETTLE_STEPS_ROLE}, so it needs guard settle; got guard "
                                              f"{self.guard!r}")
        for name in ("reduced", "reset_optimizer", "history_on_host", "stop_at_target", "deterministic",
                     "channels_last"):
            value = getattr(self, name)
            if not isinstance(value, bool) and not (name == "channels_last" and value is None):
                raise ConfigError(name, f"must be true or false, got {value!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ConfigError("precision", f"must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.data_workers is not None and (not isinstance(self.data_workers, int) or
                                              isinstance(self.data_workers, bool) or self.data_workers < 0):
            raise ConfigError("data_workers", f"must be a whole number >= 0, got {self.data_workers!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError("seed", f"must be a non-negative integer, got {self.seed!r}")
        if self.device not in DEVICES:
            raise ConfigError("device", f"must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.target is not None and not (isinstance(self.target, (int, float)) and 0 < self.target <= 1):
            raise ConfigError("target", f"must be an accuracy in (0, 1], got {self.target!r}")
        if not isinstance(self.forecaster_params, dict):
            raise ConfigError("forecaster_params", f"must be a mapping, got {self.forecaster_params!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["jumps"] = list(self.jumps) if self.jumps is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(sorted(unknown)[0], f"not a run setting; allowed: {', '.join(sorted(names))}")
        return cls(**data)

    @classmethod
    def from_stored(cls, data: dict) -> "RunConfig | None":
        """A stored trial's config read back (the settings this version knows); None for one it cannot read."""
        try:
            return cls.from_dict({k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except Exception:  # noqa: BLE001 - an old row: whoever reads it goes on without it
            return None

    def key(self) -> str:
        """A stable hash of everything that changes the result (EXECUTION_FIELDS do not)."""
        d = self.to_dict()
        for k in EXECUTION_FIELDS:
            d.pop(k)
        # settings at their defaults keep the keys trials had before the settings existed
        for k, default in (("stop_at_target", False), ("precision", None), ("channels_last", None), ("guard", False),
                           ("gate", None), ("settle_steps", None)):
            if d[k] == default:
                d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
