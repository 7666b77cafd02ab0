"""`dkdpose demo` (`make demo`): the out-of-the-box run on the embedded synthetic benchmark.

For now it generates the small benchmark (`configs/synthetic_small.yaml`) into `data/<preset>` (reused when it
is already there with the same parameters) and copies its card and contact sheet into the run folder; later
issues extend it into training and evaluation.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from dkdpose.data.synthetic.generate import SynthResult, generate_dataset
from dkdpose.data.synthetic.presets import synth_options
from dkdpose.errors import InputError

log = logging.getLogger(__name__)


def run_demo(
    out_dir: str | Path = "runs/demo", preset: str = "synthetic_small", progress: bool = False
) -> SynthResult:
    """Generate (or reuse) the preset's benchmark in `data/<preset>` and copy its card and contact sheet into
    `out_dir`. Returns the generation result (card, data folder, whether it was reused, frames/s)."""
    data_dir = Path("data") / Path(preset).stem
    result = generate_dataset(data_dir, progress=progress, **synth_options(preset, {}))
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("card.json", "contact_sheet.png"):
            shutil.copyfile(data_dir / name, out_dir / name)
    except OSError as e:
        raise InputError(f"{out_dir}: cannot write the demo outputs ({e.strerror or e})") from None
    log.info("demo: benchmark in %s, card and contact sheet in %s", data_dir, out_dir)
    return result
