"""The YAML configs shipped inside the package (`dkdpose/configs/*.yaml`), found by name or by path.

A config is named either by a path to a YAML file (it always wins when the file exists) or by the name of a
shipped config: `synthetic_tiny`, `synthetic_tiny.yaml` or `configs/synthetic_tiny.yaml` (the path the README
uses in a clone, where `configs/` links to the package's folder). A bare name looks in `./configs/` first, so
a user's own `configs/` folder overrides the shipped files. The shipped files are read through
`importlib.resources`, so the same names work from a clone, an installed wheel and any working folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from dkdpose.errors import InputError


def shipped_dir() -> Path:
    """The folder of the shipped configs (a real folder: the package is installed unzipped)."""
    return Path(str(resources.files("dkdpose") / "configs"))


def shipped_names() -> list[str]:
    """Names of the shipped configs, sorted (file names without `.yaml`)."""
    return sorted(p.stem for p in shipped_dir().glob("*.yaml"))


def find_config(name: str | Path, what: str = "config") -> Path:
    """The YAML file for `name`: an existing file, else the shipped config of that name; InputError if none.

    `what` names the kind of file in the message ("config", "synth preset").
    """
    path = Path(name)
    if path.is_file():
        return path
    stem = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    bare = path.parent == Path(".") or path.parent.name == "configs"
    if bare:
        for candidate in (Path("configs") / f"{stem}.yaml", shipped_dir() / f"{stem}.yaml"):
            if candidate.is_file():
                return candidate
    raise InputError(
        f"{name}: {what} file not found, and no shipped config of that name "
        f"(shipped: {', '.join(shipped_names())})"
    )
