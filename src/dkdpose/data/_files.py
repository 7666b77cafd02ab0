"""Reading the datasets' files: MATLAB `.mat` labels (Penn Action, Sub-JHMDB) and frame folders.

Every helper raises one clear `InputError` naming the file or folder.

`scipy.io.loadmat` returns every numeric field as a 2-D (or more) array and every string as a 1-element array;
MATLAB also drops trailing singleton dimensions (a one-frame `pos_img` is 2 x 15, not 2 x 15 x 1). The helpers
here hide those details so that the readers can state the shapes they expect. Frame folders are only listed,
never decoded, so that reading thousands of label files stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from dkdpose.errors import InputError


def require_dir(path: Path, what: str) -> Path:
    """`path` if it is a folder, else InputError naming it as `what` (e.g. "Penn Action labels folder")."""
    if not path.is_dir():
        raise InputError(f"{path}: {what} not found")
    return path


def list_frames(folder: Path, suffix: str) -> list[Path]:
    """The `*suffix` files of a frame folder, sorted by (zero-padded) name = temporal order; not decoded."""
    require_dir(folder, "frame folder")
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.name.lower().endswith(suffix) and e.is_file())
    if not names:
        raise InputError(f"{folder}: no {suffix} frames in this folder")
    return [folder / n for n in names]


def load_mat(path: Path, fields: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load `fields` (and those of `optional` the file has) from a `.mat` file; InputError when the file is
    missing, unreadable or lacks one of `fields`."""
    if not path.is_file():
        raise InputError(f"{path}: label file not found")
    try:
        data = scipy.io.loadmat(str(path), variable_names=[*fields, *optional])
    except Exception as e:  # scipy raises ValueError, TypeError, OSError, ... for corrupt files
        raise InputError(f"{path}: cannot read .mat file ({type(e).__name__}: {e})") from None
    missing = [f for f in fields if f not in data]
    if missing:
        raise InputError(f"{path}: missing field(s) {', '.join(missing)}")
    return {f: data[f] for f in (*fields, *optional) if f in data}


def mat_string(value: np.ndarray, path: Path, field: str) -> str:
    """A MATLAB char array (loaded as a 1-element array of str) as a Python str."""
    flat = np.asarray(value).ravel()
    if flat.size != 1 or not isinstance(flat[0], str):
        raise InputError(f"{path}: field {field!r} is not a string")
    return str(flat[0]).strip()


def mat_scalar(value: np.ndarray, path: Path, field: str) -> float:
    """A MATLAB numeric scalar (loaded as a 1 x 1 array) as a float."""
    arr = np.asarray(value)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: field {field!r} must be a number, got shape {arr.shape} ({arr.dtype})")
    return float(arr.ravel()[0])


def mat_numeric(
    value: np.ndarray, path: Path, field: str, ndim: int, dtype: type | None = np.float64
) -> np.ndarray:
    """A numeric field as an array of exactly `ndim` dimensions, cast to `dtype` (None: keep the stored one).

    Trailing singleton dimensions that MATLAB dropped are added back; any other wrong rank is an error.
    """
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{path}: field {field!r} must be numeric, got {arr.dtype}")
    while arr.ndim < ndim:
        arr = arr[..., None]
    if arr.ndim != ndim:
        raise InputError(f"{path}: field {field!r} must have {ndim} dimensions, got shape {arr.shape}")
    return arr if dtype is None else arr.astype(dtype, copy=False)


SUBSETS = ("train", "test")


def check_subset(subset: str | None) -> None:
    """Readers take subset "train", "test" or None (all videos)."""
    if subset is not None and subset not in SUBSETS:
        raise InputError(f"unknown subset {subset!r}; choose 'train', 'test' or none (all videos)")
