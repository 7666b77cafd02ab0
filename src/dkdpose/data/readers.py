"""One entry point for every dataset reader, used by score, eval, training and the synthetic benchmark.

`read_records(dataset, root, subset, split)` maps a dataset name to its reader and its on-disk layout:
- "penn_action": `root` in the Penn Action layout (`labels/`, `frames/`), subset from the `train` flag;
- "sub_jhmdb": `root` in the Sub-JHMDB layout, videos of split `split` (1-3);
- "mpii": `root` in the SimpleBaseline layout: `annot/train.json` (subset "train"), `annot/valid.json`
  (subset "test"), images under `images/`.
"""

from __future__ import annotations

from pathlib import Path

from dkdpose.data._files import check_subset, require_dir
from dkdpose.data.jhmdb import read_sub_jhmdb
from dkdpose.data.mpii import read_mpii
from dkdpose.data.penn_action import read_penn_action
from dkdpose.data.records import VideoRecord
from dkdpose.errors import InputError

DATASETS = ("penn_action", "sub_jhmdb", "mpii")
_MPII_FILES = {"train": "train.json", "test": "valid.json"}


def read_records(
    dataset: str, root: str | Path, subset: str | None = None, split: int = 1
) -> list[VideoRecord]:
    """Every record of `dataset` under `root` in `subset` ("train", "test" or None = all).

    `split` only applies to Sub-JHMDB. Records are sorted by video id (MPII: file order, train first).
    """
    check_subset(subset)
    if dataset == "penn_action":
        return read_penn_action(root, subset)
    if dataset == "sub_jhmdb":
        return read_sub_jhmdb(root, split=split, subset=subset)
    if dataset == "mpii":
        return _read_mpii_root(Path(root), subset)
    raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def _read_mpii_root(root: Path, subset: str | None) -> list[VideoRecord]:
    require_dir(root, "MPII root")
    subsets = [subset] if subset is not None else ["train", "test"]
    records = []
    for s in subsets:
        records += read_mpii(root / "annot" / _MPII_FILES[s], root / "images", split=s)
    return records
