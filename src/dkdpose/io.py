"""File input and output shared by every command.

Output guard (`check_output`): every command checks each output path before it reads or computes anything. An
output is refused when it is one of the command's inputs (same resolved path or same inode), lies inside a
dataset folder the command reads, or exists and is not what the command writes (a regular file, or a folder
for folder outputs): a symbolic link, a FIFO, a device node or a folder in place of a file is never written
through or replaced.

Atomic writes: write to a temporary file in the same folder, then rename, so a failure half-way never leaves a
half-written output file behind. Temporary names carry the writer's process id (`.NAME.PID.XXXX.tmp.SUFFIX`),
so that a later run removes those left behind by a killed process (`clean_stale`). JSON input: one clear
InputError per problem.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dkdpose.errors import InputError

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device node"),
    (stat.S_ISBLK, "a device node"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    """What a file of st_mode `mode` is, in words ("a regular file" when none of the special kinds)."""
    return next((name for test, name in _KINDS if test(mode)), "a regular file")


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"{path}: cannot inspect this output path ({e.strerror})") from None


def _same_file(a: Path, b: Path) -> bool:
    """True when `a` and `b` name the same file: equal resolved paths, or the same device and inode."""
    if a.resolve() == b.resolve():
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _inside(path: Path, root: Path) -> bool:
    """True when `path` is `root` or lies under it (symbolic links in both resolved)."""
    p, r = path.resolve(), root.resolve()
    return p == r or r in p.parents


def check_output(
    path: str | Path,
    inputs: Iterable[str | Path | None] = (),
    roots: Iterable[str | Path | None] = (),
    folder: bool = False,
    what: str = "output",
) -> Path:
    """Refuse (InputError) an output path that would destroy something; returns it as a Path.

    `inputs`: files (or folders) the command reads; the output may be none of them. `roots`: dataset folders
    the command reads; the output may not lie inside one. `folder`: the output is a folder (an existing one
    is written into), else a file (it must be a new name or a regular file). None entries are skipped.
    """
    path = Path(path)
    st = _lstat(path)
    if st is not None:
        kind = _kind(st.st_mode)
        wanted = "a folder" if folder else "a regular file"
        if kind != wanted:
            raise InputError(f"{path}: the {what} exists and is {kind}, not {wanted}; choose another name")
    for item in inputs:
        if item is not None and Path(item).exists() and _same_file(path, Path(item)):
            raise InputError(f"{path}: the {what} is also an input of this command ({item}); choose another")
    for root in roots:
        if root is not None and str(root) and _inside(path, Path(root)):
            raise InputError(f"{path}: the {what} lies inside the dataset folder {root}, which is read")
    return path


# --- atomic writes ------------------------------------------------------------------------------------------

_PID = re.compile(r"^\.(?P<name>.+?)\.(?P<pid>\d+)\.[^.]+\.(tmp|partial|old\.partial)")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale(folder: str | Path) -> list[Path]:
    """Remove temporaries (`.NAME.PID.XXXX.tmp*` files, `.NAME.PID.XXXX.partial` folders) in `folder` whose
    writer process no longer runs (killed half-way); returns what was removed."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _PID.match(entry.name)
        if m is None or _alive(int(m["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def temp_prefix(path: Path) -> str:
    """The prefix of this process's temporaries for `path` (see `clean_stale`)."""
    return f".{path.name}.{os.getpid()}."


def make_temp_folder(out: Path) -> Path:
    """A new empty folder beside `out` (`.NAME.PID.XXXX.partial`) with the mode a plain mkdir would give."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out.parent)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out), suffix=".partial", dir=out.parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    except OSError as e:
        raise InputError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    return tmp


@contextmanager
def new_folder(path: str | Path) -> Iterator[Path]:
    """Create the output folder `path` (and its parents) for the block; when the block fails, remove what
    it created, so that a failure (disk full, bad input found late, Ctrl-C) leaves no partial output folder.
    An existing folder is kept (only the files written into it are atomic)."""
    path = Path(path)
    first_new = next((p for p in [*reversed(path.parents), path] if not p.exists()), None)
    make_folder(path)
    try:
        yield path
    except BaseException:
        if first_new is not None:
            shutil.rmtree(first_new, ignore_errors=True)
        raise


def remove_own_folder(path: str | Path, own: Iterable[str]) -> None:
    """Remove folder `path` when each of its entries is one of the names in `own` (what a command writes
    there); otherwise refuse (InputError) naming what would be lost, and remove nothing."""
    path = Path(path)
    foreign = sorted(p.name for p in path.iterdir() if p.name not in set(own) and not _PID.match(p.name))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InputError(f"{path}: must be replaced but holds {shown}, which dkdpose did not write; "
                         "move them or choose another --out")  # fmt: skip
    shutil.rmtree(path)


def _check_replaceable(path: Path) -> None:
    st = _lstat(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: exists and is {_kind(st.st_mode)}, not a regular file; not replaced")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the block succeeds.

    The temporary name keeps `path`'s suffix so that writers that choose a format by extension still work.
    Only a new name or a regular file is ever replaced; an OSError (disk full, no permission) while writing
    becomes one InputError naming `path`, and no temporary is left behind.
    """
    path = Path(path)
    _check_replaceable(path)
    clean_stale(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as e:
        raise InputError(f"{path}: cannot write here ({e.strerror or e})") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode a plain open() would
        _check_replaceable(path)  # something may have appeared meanwhile
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def json_text(obj: object, indent: int | None = 2) -> str:
    """Strict JSON text: NaN and infinities become `null` (bare `NaN` tokens are not JSON)."""
    compact = (",", ":") if indent is None else None
    return json.dumps(_finite(obj), indent=indent, separators=compact, allow_nan=False) + "\n"


def _finite(obj: object) -> object:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: str | Path, obj: object) -> None:
    write_text(path, json_text(obj))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- JSON input ---------------------------------------------------------------------------------------------


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict; a key given twice is refused (json would silently keep the last one)."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key {twice!r} appears twice in one object")
    return obj


def load_json_text(text: str, path: Path, what: str) -> object:
    """Parse JSON text of `path`; a syntax error or absurd nesting is one InputError."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, ValueError) as e:
        raise InputError(f"{path}: {what} is not valid JSON ({_first_line(e)})") from None
    except RecursionError:
        raise InputError(f"{path}: {what} is nested too deeply to be a {what}") from None


def read_json(path: str | Path, what: str, kind: type = dict, expect: str = "") -> dict | list:
    """Parse `path`; `what` names the file in messages ("predictions file"); `kind` is dict or list.

    `expect` describes the wanted content in the wrong-type message (default "a JSON object" / "a JSON list").
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise InputError(f"{path}: {what} is not valid JSON (not UTF-8 text)") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    obj = load_json_text(text, path, what)
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


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__
