"""What a training run reports: metrics.csv, TensorBoard events (if installed), a log line per N steps."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

from dkdpose.io import write_text

try:  # tensorboard is an optional extra
    from torch.utils.tensorboard import SummaryWriter
except ImportError:
    SummaryWriter = None

log = logging.getLogger(__name__)

METRIC_FIELDS = [
    "step",
    "epoch",
    "loss_g",
    "loss_pose",
    "loss_d",
    "l2_real",
    "l2_fake",
    "lambda",
    "lr",
    "clips_per_s",
]


def write_validation_row(path: Path, epoch: int, step: int, pck: float) -> None:
    """Add (epoch, step, val_torso) to the learning curve in `path`, replacing rows of epoch >= `epoch`.

    Rewritten atomically each epoch, so a run resumed after a kill never repeats an epoch's row.
    """
    rows = [r for r in read_validation(path) if r["epoch"] < epoch]
    rows.append({"epoch": epoch, "step": step, "val_torso": round(pck, 4)})
    lines = ["epoch,step,val_torso"] + [f"{r['epoch']},{r['step']},{r['val_torso']}" for r in rows]
    write_text(path, "\n".join(lines) + "\n")


def read_validation(path: Path) -> list[dict]:
    """The rows of a run's validation.csv ([] when there is none): epoch, step, val_torso."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{"epoch": int(r["epoch"]), "step": int(r["step"]), "val_torso": float(r["val_torso"])}
                for r in csv.DictReader(f)]  # fmt: skip


class MetricsLog:
    """metrics.csv (appended, so a resumed run continues the file) and TensorBoard events when available."""

    def __init__(self, out: Path, enabled: bool, step: int = 0):
        """`step`: the step the run continues from; rows logged after it (by a killed run) are dropped."""
        self.enabled, self.path, self.tb = enabled, out / "metrics.csv", None
        if not enabled:
            return
        if not self.path.exists():
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(METRIC_FIELDS)
        else:
            self._drop_after(step)
        if SummaryWriter is not None:
            self.tb = SummaryWriter(str(out / "tb"))
        else:
            log.info("tensorboard is not installed: metrics go to metrics.csv only")

    def _drop_after(self, step: int) -> None:
        with self.path.open(newline="") as f:
            rows = list(csv.reader(f))
        col = METRIC_FIELDS.index("step")
        kept = rows[:1] + [r for r in rows[1:] if r and r[col].isdigit() and int(r[col]) <= step]
        if len(kept) < len(rows):
            buf = io.StringIO()
            csv.writer(buf).writerows(kept)
            write_text(self.path, buf.getvalue())

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in METRIC_FIELDS])
        if self.tb is not None:
            for k in METRIC_FIELDS[2:]:
                if row.get(k, "") != "":
                    self.tb.add_scalar(k, row[k], row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def log_line(res: dict, epochs: int, total_steps: int, eta: float) -> str:
    """The progress line of one logged step: losses, λ, learning rate, throughput and ETA."""
    loss_d = f"{res['loss_d']:.5f}" if "loss_d" in res else "-"
    return (
        f"epoch {res['epoch']}/{epochs} step {res['step']}/{total_steps}  loss_g {res['loss_g']:.5f}  "
        f"loss_d {loss_d}  lambda {res['lambda']:.3f}  lr {res['lr']:.2e}  {res['clips_per_s']:.2f} clips/s  "
        f"ETA {_fmt_eta(eta)}"
    )


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"
