"""Did the track hold? Per person of a `dkdpose predict --json` file: crop-window width and confidence ranges.

    python tools/track_summary.py runs/demo/predict/poses.json

For each person, over all frames: the smallest and largest width of the crop window (`boxes`, pixels) and the
smallest and largest mean joint confidence of a frame (`scores`, heatmap peaks). A window that collapses or a
confidence that falls toward 0 shows a lost track.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def summarize(doc: dict) -> list[dict]:
    """One row per person: {"id", "frames", "width_min", "width_max", "conf_min", "conf_max"}."""
    rows = []
    for person in doc["people"]:
        boxes = np.asarray(person["boxes"], np.float64)  # (T, 4) x1, y1, x2, y2
        scores = np.asarray(person["scores"], np.float64)  # (T, K)
        widths, conf = boxes[:, 2] - boxes[:, 0], scores.mean(axis=1)
        rows.append({"id": person["id"], "frames": len(boxes), "width_min": float(widths.min()),
                     "width_max": float(widths.max()), "conf_min": float(conf.min()),
                     "conf_max": float(conf.max())})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("poses", type=Path, help="the JSON written by `dkdpose predict --json`")
    args = parser.parse_args()
    try:
        doc = json.loads(args.poses.read_text())
        rows = summarize(doc)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise SystemExit(f"{args.poses}: not a `dkdpose predict` JSON ({type(e).__name__}: {e})") from None
    for r in rows:
        width = f"window width {r['width_min']:.1f}-{r['width_max']:.1f} px"
        conf = f"mean joint confidence per frame {r['conf_min']:.2f}-{r['conf_max']:.2f}"
        print(f"person {r['id']}: {r['frames']} frames, {width}, {conf}")


if __name__ == "__main__":
    main()
