"""File input and output shared by every command.

Atomic writes: write to a temporary file in the same folder, then rename, so a failure half-way never
leaves a half-written output file behind. JSON input: one clear InputError per problem. Folders: created or
one clear InputError.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dkdpose.errors import InputError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the block succeeds.

    The temporary name keeps `path`'s suffix so that writers that choose a format by extension still work.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix="." + path.stem + ".", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_json(path: str | Path, what: str, kind: type = dict, expect: str = "") -> dict | list:
    """Parse `path`; `what` names the file in messages ("predictions file"); `kind` is dict or list.

    `expect` describes the wanted content in the wrong-type message (default "a JSON object" / "a JSON list").
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: {what} is not valid JSON ({e})") from None
    if not isinstance(obj, kind):
        raise InputError(f"{path}: expected {expect or ('a JSON object' if kind is dict else 'a JSON list')}")
    return obj


def make_folder(path: str | Path, what: str = "output folder") -> Path:
    """Create folder `path` (and its parents); InputError naming it when that is impossible."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{path}: cannot create the {what} ({e.strerror or e})") from None
    return path


def enter_atomic(stack: ExitStack, path: Path) -> Path:
    """`atomic_path(path)` entered on `stack` (renamed when the stack closes); InputError if not writable."""
    try:
        return stack.enter_context(atomic_path(path))
    except OSError as e:
        raise InputError(f"{path}: cannot write here ({e.strerror})") from None
