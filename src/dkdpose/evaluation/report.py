"""The tables of an evaluation: report.md, per_video.csv, the score table and the lines `dkdpose eval` prints.

Markdown and CSV only; the numbers come from `score.py` (PCK) and `jitter.py` (temporal stability).
`fmt_value` is the one formatter of a value that may be missing ("-").
"""

from __future__ import annotations

import numpy as np

from dkdpose.evaluation.metrics import NORMS
from dkdpose.skeleton import GROUP_NAMES

GROUP_COLUMNS = (*GROUP_NAMES, "Mean")
JITTER_COLUMNS = ("accel_error_px", "accel_error_pct_person", "pred_accel_px", "gt_accel_px")


def fmt_value(value: float | None, digits: int = 1) -> str:
    """`value` with `digits` decimals, or "-" when it is missing (no joint counted)."""
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(score: dict) -> str:
    """The paper-style table: a header line, then Head Sho Elb Wri Hip Knee Ank Mean per normalization."""
    split = f" split {score['split']}" if score.get("split") is not None else ""
    title = (
        f"{score['dataset']}{split}: PCK@{score['alpha']:g}, {score.get('videos', '?')} videos, "
        f"{score['frames']} frames, {score['joints_counted']} joints counted"
        + (f" (first frames {score['first_frame']})" if "first_frame" in score else "")
    )
    lines = [title, f"{'':8}" + "".join(f"{c:>7}" for c in GROUP_COLUMNS)]
    for norm in NORMS:
        groups = score[norm]["groups"]
        lines.append(f"{norm:8}" + "".join(f"{fmt_value(groups[c]):>7}" for c in GROUP_COLUMNS))
    return "\n".join(lines)


def per_video_csv(per_video: dict[str, dict], jitter_videos: dict[str, dict]) -> str:
    """CSV text: video, frames, joints_counted, pck_person, pck_torso, the jitter columns; a row per video."""
    header = ["video", "frames", "joints_counted", "pck_person", "pck_torso", *JITTER_COLUMNS]
    lines = [",".join(header)]
    for vid, row in per_video.items():
        jit = jitter_videos.get(vid, {})
        cells = [
            vid,
            str(row["frames"]),
            str(row["joints_counted"]),
            fmt_value(row["person"], 2),
            fmt_value(row["torso"], 2),
        ]
        cells += [fmt_value(jit.get(c), 3) for c in JITTER_COLUMNS]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def pck_table_markdown(score: dict) -> list[str]:
    """The paper-style table (Head .. Ank, Mean of the groups, pooled mean) as markdown lines."""
    lines = [
        "| PCK@" + f"{score['alpha']:g} | " + " | ".join(GROUP_COLUMNS) + " | pooled |",
        "|---" * (len(GROUP_COLUMNS) + 2) + "|",
    ]
    for norm in NORMS:
        cells = [fmt_value(score[norm]["groups"][c]) for c in GROUP_COLUMNS]
        cells.append(fmt_value(score[norm]["mean"]))
        lines.append(f"| {norm} | " + " | ".join(cells) + " |")
    return lines


def jitter_markdown(jitter: dict) -> list[str]:
    """The temporal-stability table (see `dkdpose.evaluation.jitter`) as markdown lines."""
    return [
        "| accel. error (px/frame^2) | accel. error (% person size/frame^2) | pred. accel. (px/frame^2) "
        "| GT accel. (px/frame^2) | joint triplets |",
        "|---|---|---|---|---|",
        "| " + " | ".join(fmt_value(jitter[c], 2) for c in JITTER_COLUMNS) + f" | {jitter['triplets']} |",
    ]


def _per_video_summary(per_video: dict[str, dict], worst: int = 5) -> list[str]:
    rows = [(v["person"], vid) for vid, v in per_video.items() if v["person"] is not None]
    if not rows:
        return ["No video has a counted joint."]
    values = np.array([r[0] for r in rows])
    lines = [
        f"{len(rows)} videos; per-video PCK (person): min {values.min():.1f}, "
        f"median {np.median(values):.1f}, "
        f"max {values.max():.1f}. Every video is in `per_video.csv`.",
        "",
        f"Lowest {min(worst, len(rows))} (person PCK): "
        + ", ".join(f"`{vid}` {v:.1f}" for v, vid in sorted(rows)[:worst]),
    ]
    return lines


def _first_pose_sentence(info: dict) -> str:
    """The propagation protocol's line of report.md ('' under the paper's protocol)."""
    if info.get("first_pose", "predicted") != "ground_truth":
        return ""
    start = ("starts from it" if info.get("uses_first_pose")
             else "cannot start from a given pose and starts from its own first frame")  # fmt: skip
    return (" Propagation protocol (`--first-pose ground_truth`): each video's first-frame annotated pose is "
            f"given, the model {start}, and the first frames are not scored.")  # fmt: skip


def report_markdown(score: dict, jitter: dict, info: dict) -> str:
    """report.md of one evaluation: protocol, PCK table, jitter, per-video summary and the curves."""
    split = f", split {score['split']}" if score.get("split") is not None else ""
    scales = ", ".join(f"{s:g}" for s in info["scales"])
    lines = [
        f"# {info['model']} on {score['dataset']}{split}",
        "",
        f"Checkpoint `{info['weights']}`, input {info['input_size']}x{info['input_size']}, "
        f"scales [{scales}], "
        f"flip {'on' if info['flip'] else 'off'}, device {info['device']}, "
        f"precision {info.get('precision', 'fp32')}. Protocol of `docs/protocol.md`: "
        "online frame-by-frame inference, each frame cropped around its ground-truth box centre; "
        f"{score['videos']} videos, {score['frames']} frames, {score['joints_counted']} joints counted."
        + _first_pose_sentence(info),
        "",
        "## PCK",
        "",
        *pck_table_markdown(score),
        "",
        "## Temporal stability",
        "",
        "Mean joint acceleration error against the ground truth (second differences, where the joint is "
        "counted "
        "in three consecutive frames; lower is steadier). The prediction's and the ground truth's own mean "
        "acceleration are given for scale.",
        "",
        *jitter_markdown(jitter),
        "",
        "## Per video",
        "",
        *_per_video_summary(score["per_video"]),
        "",
        "## PCK vs alpha",
        "",
        "![PCK normalized by person size](pck_person.png) ![PCK normalized by torso size](pck_torso.png)",
    ]
    return "\n".join(lines) + "\n"


def splits_markdown(mean: dict, runs: list[dict]) -> str:
    """report.md of the three-split Sub-JHMDB evaluation: the mean table, then each split's row."""
    lines = [
        "# Sub-JHMDB, mean over the three splits",
        "",
        "One checkpoint per split: "
        + ", ".join(f"split {i}: `{r['weights']}`" for i, r in enumerate(runs, 1)),
        "",
        *pck_table_markdown(mean),
        "",
        *jitter_markdown(mean["jitter"]),
        "",
        "## Per split",
        "",
    ]
    for i, r in enumerate(runs, start=1):
        lines += [f"### Split {i} (details in [split{i}/report.md](split{i}/report.md))", ""]
        lines += [*pck_table_markdown(r["score"]), ""]
    return "\n".join(lines)


def mean_line(mean: dict) -> str:
    cells = ", ".join(f"{norm} {fmt_value(mean[norm]['groups']['Mean'])}" for norm in NORMS)
    return f"sub_jhmdb mean over splits {mean['splits']}: PCK@{mean['alpha']:g} Mean {cells}"


def jitter_line(jitter: dict) -> str:
    return (
        f"jitter: acceleration error {fmt_value(jitter['accel_error_px'], 2)} px/frame^2 "
        f"({fmt_value(jitter['accel_error_pct_person'], 2)} % of person size), "
        f"prediction {fmt_value(jitter['pred_accel_px'], 2)}, "
        f"ground truth {fmt_value(jitter['gt_accel_px'], 2)} px/frame^2"
    )
