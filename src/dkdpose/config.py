"""Run configuration: flat YAML sections mapped onto dataclasses.

A config file has up to five sections (`data`, `model`, `train`, `eval`, `synth`), each a flat mapping of keys
to values; `synth` holds the `dkdpose synth` options that generate `data.root` when it does not exist yet.
No inheritance and no includes: what a run used is what its `config.yaml` says. Unknown sections or keys, and
values of the wrong type, are refused with a message naming the file and the key. `--set section.key=value`
overrides one key (the value is parsed as YAML, so `--set train.epochs=3` gives an int).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from dkdpose.config_files import find_config
from dkdpose.data.synthetic.presets import OPTION_KEYS
from dkdpose.errors import InputError
from dkdpose.io import write_text
from dkdpose.models.build import check_input_size
from dkdpose.models.distillator import DISTILL_INPUTS
from dkdpose.models.dkd import KERNEL_SOURCES
from dkdpose.models.variants import (
    ARCHITECTURES,
    MODELS,
    VARIANTS,
    family_of,
    model_for_variant,
    variant_options,
)


@dataclass
class DataConfig:
    dataset: str = "penn_action"  # penn_action | sub_jhmdb | mpii
    root: str = ""  # the dataset folder, in its original on-disk layout
    split: int = 1  # Sub-JHMDB split (1-3)
    mpii_json: str = ""  # MPII only: the annotation JSON (images under root/images)
    mpii_target: str = (
        "penn_action"  # MPII only: the joint set the MPII joints are mapped to for pre-training
    )
    input_size: int = 256  # square network input, pixels
    sigma: float = 2.0  # Gaussian sigma of the target heatmaps, in heatmap cells
    clip_length: int = 5  # frames per training clip (1 = single-frame training)
    val_videos: int = 0  # train videos held out for validation (best.pt); 0 = none
    workers: int = 2  # DataLoader workers
    augment: bool = True


@dataclass
class ModelConfig:
    name: str = "dkd_r18"  # a name understood by dkdpose.models.build.build_model
    initializer: str = "resnet101"  # backbone of the pose initializer P (DKD models)
    kernel_size: int = 0  # S, the spatial size of the kernel bases; 0 = scaled with the heatmap (7 at 32x32)
    kernel_signed: bool = True  # signed kernel bases (False: ReLU before Φ's last pooling, the paper's text)
    distill_input: str = "concat"  # what Φ reads: concat (the paper) | gated | pooled (distillator.py)
    pose_prior: bool = False  # DKD: add a learned per-joint filter of h_t to the matching (not in the paper)
    static_head: bool = False  # DKD: add F's stage-1 1x1 classifier of f_t to the matching (not in the paper)
    kernels_from: str = "previous"  # DKD: Φ on every frame (the paper) | first (frame 1's kernels kept)
    channels: int = 256  # C, the feature / kernel-base channels
    pretrained: str = ""  # ImageNet weights for the backbones: a file, "torchvision", or "" for none
    init_initializer: str = ""  # stage-1 checkpoint whose single-frame network initializes P
    init_encoder: str = ""  # stage-1 checkpoint whose backbone + deconv head initialize F


@dataclass
class TrainConfig:
    variant: str = "dkd"  # a row of dkdpose.models.variants.VARIANTS
    epochs: int = 40
    batch_size: int = 8
    lr: float = 5e-4
    lr_milestones: list[int] = field(default_factory=lambda: [15, 25])
    lr_factor: float = 0.1
    warmup_steps: int = 0  # linear lr warm-up over the first N steps (stage 2: see README, "Training")
    freeze: list[str] = field(default_factory=list)  # generator parts kept fixed, e.g. [distillator]
    stage1_lr_mult: float = 1.0  # lr x this for the parts initialized from stage 1 (1: the paper, one lr)
    optimizer: str = "rmsprop"  # rmsprop (the paper) | adam
    eta: float = 0.1  # weight of the adversarial term in L_G (Eqn. 5)
    gamma: float = 0.1  # update rate of lambda (Eqn. 7)
    steps_per_epoch: int = 0  # 0 = one pass over the clips
    log_every: int = 20
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "none"  # none | bf16 (CPU or CUDA) | fp16 (CUDA only)
    joint_discriminator_batch: bool = True  # real and fake pairs through D in one batch (False: two passes)
    first_pose: str = "predicted"  # h_1 that Φ reads in training: predicted (P's, the paper) | ground_truth
    channels_last: bool = False
    sync_bn: bool = False  # DDP only


@dataclass
class EvalConfig:
    scales: list[float] = field(default_factory=lambda: [1.0])
    flip: bool = False


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    synth: dict[str, Any] = field(default_factory=dict)  # `dkdpose synth` options that make data.root

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    def model_name(self) -> str:
        """The model this run trains (`model_for_variant`): `dkd_r18` + `no_pkd` -> `dkd_r18_no_pkd`."""
        return model_for_variant(self.model.name, self.train.variant)

    def model_kwargs(self) -> dict:
        """The keyword options of `build_model` for this run (stored in checkpoints to rebuild the model)."""
        m = self.model
        base = {"input_size": self.data.input_size, "pretrained": m.pretrained or None}
        return {**base, **variant_options(self.train.variant, dataclasses.asdict(m), self.data.input_size)}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against a field's type hint; ints are accepted for floats."""
    origin = getattr(hint, "__origin__", None)
    if origin is list:
        (item,) = hint.__args__
        if not isinstance(value, list):
            raise InputError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item, where) for v in value]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and value is None:
        return ""
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise InputError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _apply(cfg: RunConfig, section: str, key: str, value: Any, source: str) -> None:
    sections = {f.name for f in dataclasses.fields(RunConfig)}
    if section not in sections:
        raise InputError(f"{source}: unknown section {section!r} (sections: {', '.join(sorted(sections))})")
    if section == "synth":  # the generator's own options, checked against its list
        if key not in OPTION_KEYS:
            raise InputError(f"{source}: unknown key synth.{key} (keys: {', '.join(OPTION_KEYS)})")
        cfg.synth[key] = value
        return
    sub = getattr(cfg, section)
    hints = get_type_hints(type(sub))
    if key not in hints:
        raise InputError(f"{source}: unknown key {section}.{key} (keys: {', '.join(sorted(hints))})")
    setattr(sub, key, _coerce(value, hints[key], f"{source}: {section}.{key}"))


def from_dict(d: dict[str, Any], source: str = "config") -> RunConfig:
    """Build a RunConfig from {section: {key: value}}; unknown keys are refused."""
    cfg = RunConfig()
    if not isinstance(d, dict):
        raise InputError(f"{source}: expected a mapping of sections, got {type(d).__name__}")
    for section, values in d.items():
        if not isinstance(values, dict):
            raise InputError(f"{source}: section {section!r} must be a mapping of keys to values")
        for key, value in values.items():
            _apply(cfg, section, key, value, source)
    validate(cfg, source)
    return cfg


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML config (a path or a shipped config's name) and apply `section.key=value` overrides."""
    if Path(path).is_dir():
        raise InputError(f"{path}: is a folder, not a config file")
    path = find_config(path)
    d = _parse_yaml(path)
    if not isinstance(d, dict):
        raise InputError(f"{path}: expected a mapping of sections, got {type(d).__name__}")
    for item in overrides or []:
        name, sep, raw = item.partition("=")
        section, dot, key = name.partition(".")
        if not sep or not dot or not section or not key:
            raise InputError(f"--set {item!r}: expected section.key=value")
        d.setdefault(section, {})
        if not isinstance(d[section], dict):
            raise InputError(f"{path}: section {section!r} must be a mapping")
        try:
            d[section][key] = yaml.safe_load(raw)
        except (yaml.YAMLError, RecursionError):
            raise InputError(f"--set {item!r}: the value is not valid YAML") from None
    return from_dict(d, str(path))


def _parse_yaml(path: Path) -> Any:
    """The YAML document in `path` ({} when empty); every problem is one InputError."""
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise InputError(f"{path}: config file not found") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a YAML config (binary, not UTF-8 text)") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read the config ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    except RecursionError:
        raise InputError(f"{path}: not a config (nested too deeply)") from None


# What h_1 a DKD stream starts from, in training (train.first_pose) and in evaluation (`eval --first-pose`):
# P's output on frame 1 (the paper) or the annotated first-frame pose
FIRST_POSES = ("predicted", "ground_truth")


# Keys that name files: two spellings of one file (relative to the working folder, or absolute) are one value
PATH_KEYS = (("model", "init_initializer"), ("model", "init_encoder"))


def comparable(cfg: RunConfig) -> dict:
    """`cfg.to_dict()` with the file keys resolved to absolute paths, for comparing two configs."""
    d = cfg.to_dict()
    for section, key in PATH_KEYS:
        if d[section].get(key):
            d[section][key] = str(Path(d[section][key]).resolve())
    return d


def same_config(saved: Any, cfg: RunConfig) -> bool:
    """True when a checkpoint's saved config dict describes `cfg` (keys added since then take defaults; a
    stage-1 checkpoint named by another path to the same file is the same)."""
    try:
        return comparable(from_dict(saved, "saved config")) == comparable(cfg)
    except InputError:  # a key that no longer exists, or a value that is no longer valid
        return False


def check_same_config(saved: Any, cfg: RunConfig, source: str) -> None:
    """Refuse to continue a run with a config other than its own (`--resume` with `--set` or another file)."""
    try:
        old = comparable(from_dict(saved, f"{source} (saved config)"))
    except InputError as e:
        raise InputError(f"{source}: its saved config is no longer valid ({e}); start a new run") from None
    new = comparable(cfg)
    changed = [f"{s}.{k}" for s in new for k in new[s] if old.get(s, {}).get(k) != new[s][k]]
    if changed:
        keys = ", ".join(changed[:3])
        raise InputError(f"{source}: --resume continues a run with its own config, but {keys} differ; "
                         "to change it, start a new run (another --out)")  # fmt: skip


def save_config(cfg: RunConfig, path: str | Path) -> None:
    write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


# numeric fields and their allowed closed ranges (None: unbounded on that side)
RANGES: dict[str, tuple[float | None, float | None]] = {
    "data.split": (1, 3), "data.input_size": (32, 4096), "data.sigma": (0.1, 64),
    "data.clip_length": (1, 256), "data.val_videos": (0, None), "data.workers": (0, 256),
    "model.kernel_size": (0, 31), "model.channels": (1, 4096),
    "train.epochs": (1, 100_000), "train.batch_size": (1, 65_536), "train.lr": (1e-12, 10.0),
    "train.lr_factor": (1e-12, 1.0), "train.stage1_lr_mult": (1e-6, 10.0), "train.warmup_steps": (0, None),
    "train.eta": (0.0, 100.0),
    "train.gamma": (0.0, 100.0), "train.steps_per_epoch": (0, None), "train.log_every": (1, None),
    "train.seed": (0, 2**63 - 1), "train.lr_milestones": (1, None),
    "eval.scales": (0.05, 20.0),
}  # fmt: skip
CHOICES: dict[str, tuple[str, ...]] = {
    "data.dataset": ("penn_action", "sub_jhmdb", "mpii"), "train.variant": VARIANTS,
    "train.optimizer": ("rmsprop", "adam"), "train.amp": ("none", "bf16", "fp16"),
    "model.distill_input": DISTILL_INPUTS, "model.kernels_from": KERNEL_SOURCES,
    "train.first_pose": FIRST_POSES,
}  # fmt: skip
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def _check_ranges(cfg: RunConfig, source: str) -> None:
    """Every numeric field finite and inside RANGES, every choice field one of CHOICES."""
    d = cfg.to_dict()
    for name, (lo, hi) in RANGES.items():
        section, key = name.split(".")
        for v in d[section][key] if isinstance(d[section][key], list) else [d[section][key]]:
            if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
                bounds = f">= {lo}" if hi is None else f"in {lo}..{hi}"
                raise InputError(f"{source}: {name} must be {bounds}, got {d[section][key]!r}")
    for name, choices in CHOICES.items():
        section, key = name.split(".")
        for v in d[section][key] if isinstance(d[section][key], list) else [d[section][key]]:
            if v not in choices:
                raise InputError(f"{source}: {name} {v!r} is not one of {', '.join(choices)}")
    if not _DEVICE.fullmatch(cfg.train.device):
        device = cfg.train.device
        raise InputError(f"{source}: train.device must be auto, cpu, cuda or cuda:N, got {device!r}")


def validate(cfg: RunConfig, source: str = "config") -> None:
    """Range checks of every field, then cross-field checks that a type hint cannot express."""
    _check_ranges(cfg, source)
    t, d = cfg.train, cfg.data
    if t.variant not in VARIANTS:
        raise InputError(f"{source}: train.variant {t.variant!r} is not one of {', '.join(VARIANTS)}")
    if cfg.model.name not in MODELS:
        raise InputError(f"{source}: model.name {cfg.model.name!r} is not one of {', '.join(MODELS)}")
    if d.dataset not in ("penn_action", "sub_jhmdb", "mpii"):
        raise InputError(f"{source}: data.dataset {d.dataset!r} is not penn_action, sub_jhmdb or mpii")
    check_input_size(d.input_size, f"{source}: data.input_size", minimum=32)
    if d.clip_length < 1 or t.epochs < 1 or t.batch_size < 1:
        raise InputError(f"{source}: clip_length, epochs and batch_size must be >= 1")
    if cfg.model.kernel_size < 0 or (cfg.model.kernel_size and cfg.model.kernel_size % 2 == 0):
        raise InputError(f"{source}: model.kernel_size must be odd or 0 (scaled): {cfg.model.kernel_size}")
    if t.warmup_steps < 0:
        raise InputError(f"{source}: train.warmup_steps must be >= 0, got {t.warmup_steps}")
    if t.amp not in ("none", "bf16", "fp16"):
        raise InputError(f"{source}: train.amp must be none, bf16 or fp16, got {t.amp!r}")
    if t.optimizer not in ("rmsprop", "adam"):
        raise InputError(f"{source}: train.optimizer must be rmsprop or adam, got {t.optimizer!r}")
    variant = VARIANTS[t.variant]
    family = ARCHITECTURES[variant.architecture].family
    if family_of(cfg.model.name) != family:
        raise InputError(f"{source}: train.variant {t.variant!r} needs a {family}* model.name, "
                         f"got {cfg.model.name!r}")  # fmt: skip
    if t.first_pose == "ground_truth" and variant.architecture != "dkd":
        raise InputError(f"{source}: train.first_pose ground_truth needs a DKD variant (dkd, no_tat, sat), "
                         f"got {t.variant!r}")  # fmt: skip
    if d.clip_length < variant.min_clip_length:
        raise InputError(
            f"{source}: variant {t.variant!r} needs data.clip_length >= {variant.min_clip_length}"
        )
