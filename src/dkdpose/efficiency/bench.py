"""`dkdpose bench`: efficiency measurements of the video models, as JSON plus a printed table.

`bench_flops` gives the paper's Table-1/3-style FLOPs column (GMACs per frame, first-frame cost, parameters).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

from dkdpose.efficiency.flops import PAPER_GFLOPS, model_flops
from dkdpose.errors import InputError
from dkdpose.io import make_folder, write_json
from dkdpose.models.build import MODEL_NAMES, check_input_size
from dkdpose.models.variants import input_size_for

log = logging.getLogger(__name__)

DEFAULT_FLOPS_MODELS = (
    "baseline_r18", "baseline_r34", "baseline_r50", "baseline_r101",
    "dkd_r18", "dkd_r34", "dkd_r50", "dkd_r34_lstm", "lstm_pm",
)  # fmt: skip


def bench_flops(size: int = 256, models: list[str] | None = None, num_joints: int = 13) -> dict:
    """GMACs and parameters of `models` (default DEFAULT_FLOPS_MODELS) on `size` x `size` input.

    Returns {"models": [{"name", "input", "gmacs_per_frame", "gmacs_first_frame", "params_m"}]}; lstm_pm runs
    at `variants.input_size_for` (368 for 256). Penn Action's 13 joints unless told otherwise.
    """
    check_input_size(size, "bench --size", minimum=32)
    names = list(models or DEFAULT_FLOPS_MODELS)
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise InputError(
            f"bench: unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}"
        )
    rows = []
    for name in tqdm(names, desc="counting FLOPs", disable=not sys.stderr.isatty()):
        rows.append(model_flops(name, input_size_for(name, size), num_joints))
        log.debug("%s: %s", name, rows[-1])
    return {"models": rows}


def format_flops_table(result: dict) -> str:
    """The FLOPs result as a text table, with the paper's "Flops(G)" figure where it has one."""
    lines = [
        "{:20s} {:>9s} {:>12s} {:>12s} {:>10s} {:>7s}".format(
            "model", "input", "GMACs/frame", "first frame", "params(M)", "paper"
        )
    ]
    for r in result["models"]:
        paper = PAPER_GFLOPS.get(r["name"])
        lines.append(
            f"{r['name']:20s} {'x'.join(map(str, r['input'])):>9s} {r['gmacs_per_frame']:12.2f} "
            f"{r['gmacs_first_frame']:12.2f} {r['params_m']:10.2f} {'-' if paper is None else paper:>7}"
        )
    return "\n".join(lines)


def save_result(path: str | Path, result: dict) -> None:
    """Write a bench result as JSON atomically, creating the parent folder."""
    path = Path(path)
    make_folder(path.parent)
    try:
        write_json(path, result)
    except OSError as e:
        raise InputError(f"{path}: cannot write the bench result ({e.strerror or e})") from e
