"""Synth presets: the flat `synth:` section of `configs/<name>.yaml`, merged under command-line options.

A preset names a file: `--preset synthetic_small` finds the shipped `configs/synthetic_small.yaml`
(`dkdpose.config_files`); a path to a YAML file works too and wins over a shipped config of the same name.
Keys are the arguments of `generate_dataset` (`format`, `videos`, `frames`, `seed`, `size` as "WxH",
`workers`) and the difficulty fields of `SynthParams`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dkdpose.config_files import find_config
from dkdpose.data.synthetic.params import SynthParams
from dkdpose.errors import InputError

OPTION_KEYS = ("format", "videos", "frames", "seed", "size", "workers") + tuple(
    f
    for f in SynthParams.__dataclass_fields__
    if f not in ("format", "videos", "frames", "seed", "width", "height")
)


def preset_path(name: str) -> Path:
    """The YAML file of preset `name`: a file path, or the name of a shipped config."""
    return find_config(name, "synth preset")


def load_preset(name: str) -> dict[str, object]:
    """The `synth:` section of preset `name`; InputError names the file and any unknown key."""
    path = preset_path(name)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"{path}: cannot read the preset ({e})") from None
    section = data.get("synth") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise InputError(f"{path}: no 'synth:' section with synth options")
    unknown = sorted(set(section) - set(OPTION_KEYS))
    if unknown:
        raise InputError(
            f"{path}: unknown synth option(s) {', '.join(unknown)}; known: {', '.join(OPTION_KEYS)}"
        )
    return dict(section)


def parse_size(text: object) -> tuple[int, int]:
    """ "WxH" (or [W, H]) -> (width, height); InputError on anything else."""
    if isinstance(text, (list, tuple)) and len(text) == 2:
        parts = list(text)
    else:
        parts = str(text).lower().split("x")
    try:
        w, h = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise InputError(f"--size must be WIDTHxHEIGHT, e.g. 256x256, got {text!r}") from None
    return w, h


def synth_options(preset: str | None, overrides: dict[str, object]) -> dict[str, object]:
    """Keyword arguments for `generate_dataset`: the preset's values, then `overrides` (None: not given)."""
    opts = load_preset(preset) if preset else {}
    opts.update({k: v for k, v in overrides.items() if v is not None})
    if "size" in opts:
        opts["size"] = parse_size(opts["size"])
    return opts
