"""The typed configuration of one ``crpse train`` launch (no Lightning, no argparse).

``crpse train`` builds one :class:`TrainConfig` from its command line and ``--config`` file
(:meth:`TrainConfig.from_options`); the runner reads only that object. Option values are converted and checked here
once, so a YAML value such as ``steps: 1..3`` or ``devices: 2`` reaches the runner as ``(1, 3)`` or ``2``. The
defaults below are the command line's defaults (``crpse.commands.train`` reads them with :func:`option_default`);
those of the objective and of validation are :class:`~crpse.training.settings.TrainSettings`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from crpse.sampler_spec import CRP_SPEC, DSM_VALIDATION, SamplerRequest, Schedule
from crpse.sde_parameters import BBEDParameters, OUVEParameters
from crpse.training.settings import GRAD_STEPS, STAGES, STEP_WEIGHTINGS, Stage, TrainSettings

#: how a training crop is normalised: by the peak of the noisy (reference) or the clean crop, or not at all
NORMALIZE: tuple[str, ...] = ("noisy", "clean", "none")
#: how multichannel files become mono
DOWNMIX: tuple[str, ...] = ("mean", "first")
#: weights the optimiser starts from when initialising from a checkpoint
INIT_WEIGHTS: tuple[str, ...] = ("ema", "raw")
#: NCSN++ configurations (:func:`crpse.nn.ncsnpp.named_config`)
BACKBONES: tuple[str, ...] = ("ncsnpp", "ncsnpp_m", "tiny")
#: SDEs of stage 1
SDES: tuple[str, ...] = ("bbed", "ouve")
ACCELERATORS: tuple[str, ...] = ("auto", "cpu", "gpu")
PRECISIONS: tuple[str, ...] = ("32-true", "bf16-mixed", "16-mixed")
#: learning rate by stage (CRP fine-tunes with a 10x smaller one, as the reference)
DEFAULT_LR: dict[str, float] = {"dsm": 1e-4, "crp": 1e-5, "predictive": 1e-4}
#: the options that give the validation sampler (``val_sampler`` ``"model"`` means the model's own)
VALIDATION_OPTIONS: tuple[str, ...] = ("val_sampler", "val_steps", "val_t_start", "val_corrector_steps", "val_snr")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one launch of ``crpse train STAGE`` is told (the fields are the command line's options).

    Options that a stage does not have keep their defaults (a CRP run has no ``backbone``: it comes from
    ``init``). ``options`` is the launch's options as given (plain data), recorded in ``RUN_DIR/args.json`` and in
    every checkpoint (``extra["train_args"]``).
    """

    stage: Stage
    data_dir: Path
    run_dir: Path
    # run and data
    resume: bool = False
    num_frames: int = 256
    batch_size: int = 16
    num_workers: int = 2
    normalize: Literal["noisy", "clean", "none"] = "noisy"
    downmix: Literal["mean", "first"] = TrainSettings.downmix
    seed: int = TrainSettings.seed
    # model
    init: Path | None = None
    init_weights: Literal["ema", "raw"] = "ema"
    backbone: str = "ncsnpp"
    nf: int | None = None
    ch_mult: tuple[int, ...] | None = None
    num_res_blocks: int | None = None
    attn_resolutions: tuple[int, ...] | None = None
    dropout: float | None = None
    sample_rate: int = 16000
    sde: Literal["bbed", "ouve"] = "bbed"
    # the SDE's parameters; None: the SDE's own default (crpse.sde_parameters, the reference's values)
    bbed_k: float | None = None
    bbed_c: float | None = None
    ouve_theta: float | None = None
    ouve_sigma_min: float | None = None
    ouve_sigma_max: float | None = None
    t_eps: float | None = None
    t_max: float | None = None
    # optimisation
    lr: float | None = None  # None: DEFAULT_LR[stage]
    ema_decay: float = TrainSettings.ema_decay
    ema_warmup: bool = TrainSettings.ema_warmup
    max_steps: int = -1
    max_time: str | None = None
    accumulate_grad_batches: int = 1
    gradient_clip: float = 0.0
    # CRP
    steps: tuple[int, int] = TrainSettings.crp_steps
    t_start: tuple[float, float] = TrainSettings.crp_t_start
    steps_weighting: Literal["uniform", "cost"] = TrainSettings.crp_steps_weighting
    grad_step: Literal["last", "random"] = TrainSettings.grad_step
    schedule: Schedule = CRP_SPEC.schedule
    inference_steps: int | None = None
    inference_t_start: float | None = None
    # validation and checkpoints
    val_every: int = 1000
    num_eval_files: int = TrainSettings.num_eval_files
    val_loss_batches: int = 0
    val_sampler: SamplerRequest | None = None  # None: DSM_VALIDATION for dsm, the model's own otherwise
    checkpoint_every: int = 1000
    # hardware and logging
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int | tuple[int, ...] | Literal["auto"] = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    threads: int = 0
    log_every: int = 10
    progress_bar: bool = False
    options: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.stage])
        if self.val_sampler is None or self.stage == "predictive":
            object.__setattr__(self, "val_sampler", _default_validation(self.stage))
        choices = {"--normalize": (self.normalize, NORMALIZE), "--downmix": (self.downmix, DOWNMIX),
                   "--init-weights": (self.init_weights, INIT_WEIGHTS), "--backbone": (self.backbone, BACKBONES),
                   "--sde": (self.sde, SDES), "--steps-weighting": (self.steps_weighting, STEP_WEIGHTINGS),
                   "--grad-step": (self.grad_step, GRAD_STEPS), "--accelerator": (self.accelerator, ACCELERATORS),
                   "--precision": (self.precision, PRECISIONS)}
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        positive = {"--batch-size": self.batch_size, "--num-frames": self.num_frames,
                    "--accumulate-grad-batches": self.accumulate_grad_batches, "--num-nodes": self.num_nodes,
                    "--log-every": self.log_every}
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        non_negative = {"--num-workers": self.num_workers, "--val-every": self.val_every,
                        "--num-eval-files": self.num_eval_files, "--checkpoint-every": self.checkpoint_every,
                        "--val-loss-batches": self.val_loss_batches, "--threads": self.threads}
        for name, value in non_negative.items():
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"--max-steps must be positive or -1 (no limit), got {self.max_steps}")
        if self.stage == "crp" and self.init is None:
            raise ValueError("the crp stage needs --init (a stage-1 checkpoint)")
        parameters = BBEDParameters if self.sde == "bbed" else OUVEParameters
        parameters(**self.sde_parameters())  # raises on a value out of range, before anything is built

    def sde_parameters(self) -> dict[str, float]:
        """The SDE parameters given (``{"k": 3.0}``); those left out keep the SDE's own defaults."""
        if self.sde == "bbed":
            given = {"k": self.bbed_k, "c": self.bbed_c, "t_eps": self.t_eps, "t_max": self.t_max}
        else:
            given = {"theta": self.ouve_theta, "sigma_min": self.ouve_sigma_min, "sigma_max": self.ouve_sigma_max,
                     "t_eps": self.t_eps, "t_max": self.t_max}
        return {name: value for name, value in given.items() if value is not None}

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TrainConfig:
        """Convert and check option values as the command line and config files give them.

        ``options`` maps field names to values: strings (``"1..3"``, ``"1,2,2"``, ``"none"``) or the values a YAML
        or JSON file holds. The validation sampler comes from the ``val_*`` options (:data:`VALIDATION_OPTIONS`);
        keys that are no option of training (``command``, ``verbose``, ``config``) are only recorded.

        Raises:
            ValueError: a value that cannot be read, is out of range, or is not one of its choices.
        """
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in options.items():
            spec = known.get(name)
            if spec is None or name in ("options", "val_sampler") or value is None:
                continue
            values[name] = _convert(name, str(spec.type), value)
        if any(name in options for name in VALIDATION_OPTIONS):
            values["val_sampler"] = _validation_request(options)
        return cls(options=plain(dict(options)), **values)

    def record(self) -> dict[str, Any]:
        """The options as given (for ``args.json`` and checkpoints)."""
        return dict(self.options)


def option_default(name: str, stage: str) -> Any:
    """The default of option ``name`` (a :class:`TrainConfig` field) for ``stage``: the command line's default."""
    if name == "lr":
        return DEFAULT_LR[stage]
    if name in VALIDATION_OPTIONS:
        request = _default_validation(stage)
        if name == "val_sampler":
            return request.sampler or "model"
        return getattr(request, name.removeprefix("val_"))
    spec = next(f for f in fields(TrainConfig) if f.name == name)
    if spec.default is MISSING:
        raise ValueError(f"{name} has no default")
    return spec.default


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: paths become strings, tuples lists, other objects their ``str``."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if not str(k).startswith("_") and not callable(v)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def parse_range(text: Any, kind: type, name: str) -> tuple[Any, Any]:
    """``"3"`` -> ``(3, 3)``; ``"1..5"`` -> ``(1, 5)`` (also accepts a number or a 2-list from a config file)."""
    if isinstance(text, list | tuple):
        parts = [str(p) for p in text]
    else:
        parts = str(text).split("..")
    if len(parts) not in (1, 2) or not all(p.strip() for p in parts):
        raise ValueError(f"{name} must be a value or a range MIN..MAX, got {text!r}")
    try:
        low, high = kind(parts[0]), kind(parts[-1])
    except ValueError as err:
        raise ValueError(f"{name}: cannot read {text!r} as {kind.__name__} values") from err
    if low > high:
        raise ValueError(f"{name}: the range {text!r} is empty (MIN > MAX)")
    return low, high


def _int_list(text: Any, name: str) -> tuple[int, ...]:
    if isinstance(text, list | tuple):
        return tuple(int(v) for v in text)
    if str(text).strip().lower() in ("none", ""):
        return ()
    try:
        return tuple(int(v) for v in str(text).split(","))
    except ValueError as err:
        raise ValueError(f"{name} must be a comma-separated list of integers, got {text!r}") from err


def _devices(text: Any) -> int | tuple[int, ...] | str:
    if isinstance(text, list | tuple):
        return tuple(int(v) for v in text)
    text = str(text)
    if text == "auto":
        return "auto"
    if "," in text:
        return tuple(int(v) for v in text.split(",") if v.strip())
    return int(text)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "yes", "1"):
        return True
    if str(value).lower() in ("false", "no", "0"):
        return False
    raise ValueError(f"not a truth value: {value!r}")


def _convert(name: str, annotation: str, value: Any) -> Any:
    option = "--" + name.replace("_", "-")
    if name == "steps":
        return parse_range(value, int, option)
    if name == "t_start":
        return parse_range(value, float, option)
    if name in ("ch_mult", "attn_resolutions"):
        return _int_list(value, option)
    if name == "devices":
        return _devices(value)
    kind = annotation.split(" | ")[0]
    try:
        if kind == "Path":
            return Path(value)
        if kind == "bool":
            return _bool(value)
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float":
            return float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{option}: cannot read {value!r} as {kind}") from err
    return value


def _default_validation(stage: str) -> SamplerRequest:
    return DSM_VALIDATION if stage == "dsm" else SamplerRequest()


def _validation_request(options: Mapping[str, Any]) -> SamplerRequest:
    sampler = options.get("val_sampler")
    number = {name: options.get(f"val_{name}") for name in ("steps", "t_start", "corrector_steps", "snr")}
    try:
        return SamplerRequest(
            sampler=None if sampler in (None, "model") else sampler,
            steps=None if number["steps"] is None else int(number["steps"]),
            t_start=None if number["t_start"] is None else float(number["t_start"]),
            corrector_steps=None if number["corrector_steps"] is None else int(number["corrector_steps"]),
            snr=None if number["snr"] is None else float(number["snr"]),
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"validation sampler options: {err}") from err
