"""The `dkdpose` command line: argparse subcommands, each a thin shim over an importable function.

Every subcommand has an `_add_<name>(subparsers)` function that declares its arguments and sets `func` to a
`_run_<name>(args) -> int` function. Library functions raise `dkdpose.errors.InputError` for bad input; `main`
turns that into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dkdpose.errors import InputError

if TYPE_CHECKING:  # imported lazily at run time: `dkdpose --help` stays fast
    from dkdpose.data.synthetic.generate import SynthResult

log = logging.getLogger("dkdpose")


# --- score --------------------------------------------------------------------------------------------------


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score a predictions file with the PCK protocol of docs/protocol.md")
    p.add_argument("--dataset", required=True, choices=["penn_action", "sub_jhmdb"])
    p.add_argument("--root", required=True, help="dataset folder in its original on-disk layout")
    p.add_argument("--predictions", required=True, help="predictions JSON (docs/protocol.md)")
    p.add_argument("--split", type=int, default=None, help="Sub-JHMDB split 1-3 (default 1)")
    p.add_argument("--alpha", type=float, default=0.2, help="PCK threshold (default 0.2)")
    p.add_argument("--skip-first-frame", action="store_true",
                   help="propagation protocol: the first frame's pose was given; score frames 2.. only")
    p.add_argument("--out", default=None, help="write the score JSON here (default: print it)")
    p.set_defaults(func=_run_score)


def _run_score(args: argparse.Namespace) -> int:
    import json

    from dkdpose.evaluation.report import format_table
    from dkdpose.evaluation.score import score_predictions, write_score

    score = score_predictions(args.dataset, args.root, args.predictions, split=args.split, alpha=args.alpha,
                              first_frame_given=args.skip_first_frame)  # fmt: skip
    print(format_table(score), flush=True)  # before the log line on stderr
    if args.out:
        write_score(args.out, score)
        log.info("wrote %s", args.out)
    else:
        print(json.dumps(score, indent=2))
    return 0


# --- train --------------------------------------------------------------------------------------------------


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (stage 1 single-frame or stage 2 DKD, by config)")
    p.add_argument("--config", required=True, help="YAML config: a path or a shipped name (configs/)")
    p.add_argument("--out", required=True, help="run directory (config.yaml, metrics.csv, last.pt, best.pt)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config key"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from dkdpose.config import load_config
    from dkdpose.training.loaders import prepare_data
    from dkdpose.training.loop import train
    from dkdpose.training.step import NonFiniteLoss

    cfg = load_config(args.config, args.set)
    prepare_data(cfg)  # a synthetic benchmark named in the config's synth: section is generated first
    try:
        result = train(cfg, args.out, resume=args.resume)
    except NonFiniteLoss as e:
        print(f"dkdpose train: {e}", file=sys.stderr)
        return 1
    print(f"trained to epoch {result['epoch']} ({result['step']} steps); checkpoint {result['last']}")
    return 0


def _add_precision(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision", default="fp32", choices=["fp32", "bf16", "int8"],
        help="fp32 (default); bf16: autocast + channels_last; int8: ONNX Runtime, statically quantized step",
    )  # fmt: skip
    p.add_argument("--calibrate", default=None, help="int8: calibration video or image folder (default: "
                   "a synthetic benchmark video)")  # fmt: skip


# --- bench --------------------------------------------------------------------------------------------------


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="efficiency of the models: FLOPs (GMACs) and parameters")
    p.add_argument("--flops", action="store_true", help="count GMACs per frame and parameters (Table 1)")
    p.add_argument("--size", type=int, default=256, help="square input (default 256; lstm_pm: 368/256 x)")
    p.add_argument("--models", default=None, help="comma-separated model names (default: the paper's table)")
    p.add_argument("--out", default=None, help="also write the result as JSON here")
    p.add_argument("--latency", action="store_true", help="time the streaming step, models interleaved")
    p.add_argument("--streams", type=int, default=4, help="--latency: streams B for throughput (default 4)")
    p.add_argument("--device", default="cpu", help="--latency: cpu or cuda (default cpu)")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds (--latency 10, --train-step 5)")
    p.add_argument("--warmup", type=int, default=None, help="untimed rounds (--latency 2, --train-step 1)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument(
        "--precision", default="fp32", help="--latency: comma-separated fp32,bf16,int8, measured side by side"
    )
    p.add_argument("--train-step", action="store_true", help="time training steps of --config per --amp")
    p.add_argument("--config", default=None, help="--train-step: run config (ablation config: + --variant)")
    p.add_argument("--variant", default=None, help="--train-step: the ablation config's run to time")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="--train-step: override a key"
    )
    p.add_argument("--amp", default="none,bf16", help="--train-step: none,bf16 (default: both)")
    p.add_argument(
        "--memory-format", default=None,
        help="--train-step: contiguous,channels_last, each timed with every --amp (default: the config's)",
    )  # fmt: skip
    p.set_defaults(func=_run_bench)


def _bench_command() -> str | None:
    """The command line of `dkdpose bench`, recorded in its JSON (None when called from Python)."""
    return " ".join(["dkdpose", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else None


def _run_bench(args: argparse.Namespace) -> int:
    from dkdpose.efficiency.bench import bench_flops, format_flops_table, save_result

    if args.flops + args.latency + args.train_step != 1:
        raise InputError("choose what to measure: --flops, --latency or --train-step (one per run)")
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    if args.latency:
        return _run_bench_latency(args, models)
    if args.train_step:
        return _run_bench_train_step(args)
    result = bench_flops(size=args.size, models=models)
    print(format_flops_table(result))
    if args.out:
        save_result(args.out, {**result, "command": _bench_command()})
    return 0


def _run_bench_latency(args: argparse.Namespace, models: list[str] | None) -> int:
    from dkdpose.efficiency.bench import save_result
    from dkdpose.efficiency.latency import bench_latency, format_latency_table
    from dkdpose.inference.precision import parse_precisions

    result = bench_latency(
        models, args.size, args.streams, args.device, 10 if args.repeats is None else args.repeats,
        2 if args.warmup is None else args.warmup, threads=args.threads,
        precisions=parse_precisions(args.precision),
    )  # fmt: skip
    print(format_latency_table(result))
    if args.out:
        save_result(args.out, {**result, "command": _bench_command()})
    return 0


def _run_bench_train_step(args: argparse.Namespace) -> int:
    from dkdpose.config import load_config
    from dkdpose.efficiency import train_step as ts
    from dkdpose.efficiency.bench import save_result
    from dkdpose.experiments.ablation import load_plan

    if args.config is None:
        raise InputError("--train-step needs --config (a run config, or an ablation config with --variant)")
    if args.variant is None:
        cfg = load_config(args.config, args.set)
    else:
        plan = load_plan(args.config, ".", args.set)  # the out folder only names init files, unused here
        runs = {**plan.pretrain, **plan.variants}
        if args.variant not in runs:
            raise InputError(f"{args.config}: no run {args.variant!r} (runs: {', '.join(runs)})")
        cfg = runs[args.variant].cfg
    repeats = 5 if args.repeats is None else args.repeats  # a training step takes seconds
    warmup = 1 if args.warmup is None else args.warmup
    formats = None if args.memory_format is None else ts.parse_memory_formats(args.memory_format)
    amps = ts.parse_amps(args.amp)
    result = ts.bench_train_step(cfg, amps, repeats, warmup, args.device, args.threads, formats)
    print(ts.format_train_step_table(result))
    if args.out:
        save_result(args.out, {**result, "command": _bench_command()})
    return 0


# --- synth --------------------------------------------------------------------------------------------------

_SYNTH_DIFFICULTY = {
    "test_fraction": "Penn Action: share of test videos (default 0.25)",
    "distractor": "probability of a distractor person per video (default 0.75)",
    "lookalike": "probability that the distractor wears the target's clothes (default 0.6)",
    "occluder": "probability of each of two occluders per video (default 0.45)",
    "blur": "motion-blur shutter, fraction of a frame (0 = off; default 1)",
    "noise": "sensor-noise level (0 = off; default 1)",
    "flicker": "illumination-flicker level (0 = off; default 1)",
    "shake": "camera-shake level (0 = off; default 1)",
    "zoom": "camera-zoom level (0 = fixed; default 1)",
    "speed": "multiplies the speed of the actions (default 1)",
    "glitch": "probability per frame that a burst of 1-3 degraded frames starts (0 = off; default 0)",
    "beside": "probability that the distractor stays beside the target the whole video (default 0)",
    "group_box": "probability that the label box holds the target and the distractor together (default 0)",
}


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate the synthetic video pose benchmark in a dataset's layout")
    p.add_argument("--out", required=True, help="output folder (reused when it holds the same benchmark)")
    p.add_argument("--preset", default=None, help="shipped configs/NAME.yaml or a YAML path (synth: section)")
    p.add_argument("--format", default=None, help="penn_action (default) or sub_jhmdb")
    p.add_argument("--videos", type=int, default=None, help="number of videos (default 20)")
    p.add_argument("--frames", type=int, default=None, help="frames per video (default 30)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--size", default=None, metavar="WxH", help="frame size (default 256x256)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")
    for name, text in _SYNTH_DIFFICULTY.items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=float, default=None, help=text)
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    import json

    from dkdpose.data.synthetic import generate_dataset
    from dkdpose.data.synthetic.presets import OPTION_KEYS, synth_options

    opts = synth_options(args.preset, {k: getattr(args, k) for k in OPTION_KEYS})
    result = generate_dataset(args.out, progress=sys.stderr.isatty(), **opts)
    print(json.dumps(result.card, indent=2))
    _print_synth_result(result)
    return 0


def _print_synth_result(result: SynthResult) -> None:
    """The lines that follow the card: reused, or how fast it was generated."""
    if result.reused:
        print(f"reused the existing benchmark in {result.out} (same parameters); nothing generated")
    else:
        frames = result.card["frames"]
        print(f"generated {frames} frames in {result.seconds:.1f} s: {result.frames_per_second:.1f} frames/s")
    print(f"contact sheet: {result.out / 'contact_sheet.png'}")


# --- demo ---------------------------------------------------------------------------------------------------


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the main job on synthetic data: baseline + DKD training, eval, predict, report"
    )
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--preset", default="synthetic_small", help="synth preset (default synthetic_small)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a busy CPU)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config key"
    )
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dkdpose.experiments.demo import DemoPlan, run_demo

    plan = DemoPlan(Path(args.out), args.preset, overrides=args.set, progress=sys.stderr.isatty(),
                    threads=args.threads)  # fmt: skip
    result = run_demo(plan)
    print(Path(result["report"]).read_text())
    print(f"wrote {result['report']}; try: dkdpose predict VIDEO --weights {result['dkd']} --out overlay.mp4")
    return 0


# --- eval ---------------------------------------------------------------------------------------------------


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint on the test videos (PCK, jitter, report, curves)")
    p.add_argument("--weights", required=True, nargs="+", help="checkpoint (sub_jhmdb: 3, one per split)")
    p.add_argument(
        "--config", default=None,
        help="run config whose eval: (scales, flip) and data: (dataset, root) sections give the defaults",
    )  # fmt: skip
    p.add_argument("--dataset", default=None, choices=["penn_action", "sub_jhmdb"], help="(or from --config)")
    p.add_argument("--root", default=None, help="dataset folder in its original layout (or from --config)")
    p.add_argument("--split", type=int, default=None, help="Sub-JHMDB split 1-3 (default 1, one checkpoint)")
    p.add_argument(
        "--scales", default=None, help="comma-separated test scales, e.g. 0.8,0.9,1,1.1,1.2 (default 1)"
    )
    p.add_argument(
        "--flip", action="store_true", default=None, help="also average with the horizontally flipped crops"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--input-size", type=int, default=None, help="square input (default: the checkpoint's)")
    p.add_argument("--alpha", type=float, default=0.2, help="PCK threshold (default 0.2)")
    p.add_argument("--pose-input", default="predicted", choices=["predicted", "zero", "scramble"],
                   help="DKD diagnostic: the pose h_t that Φ reads (zero / scramble: does DKD use it?)")
    p.add_argument("--first-pose", default="predicted", choices=["predicted", "ground_truth"],
                   help="ground_truth: the propagation protocol, a DKD stream starts from the first frame's "
                        "annotated pose and every model is scored from frame 2 on (default predicted)")
    p.add_argument("--video-batch", type=int, default=8,
                   help="test videos of one length run side by side as one batch (default 8; 1: one by one)")
    p.add_argument("--out", required=True, help="output folder (predictions.json, score.json, report.md..)")
    p.add_argument("--coco", default=None, help="also write COCO keypoint results here (+ _categories.json)")
    _add_precision(p)
    p.set_defaults(func=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from dkdpose.config import RunConfig, load_config
    from dkdpose.evaluation.evaluate import EvalOptions, eval_command
    from dkdpose.inference.tta import parse_scales

    cfg = load_config(args.config) if args.config else RunConfig()
    dataset = args.dataset or (cfg.data.dataset if args.config else None)
    root = args.root or (cfg.data.root if args.config else None)
    if dataset is None or not root:
        raise InputError("--dataset and --root are required (or a --config whose data: section names them)")
    scales = parse_scales(args.scales) if args.scales is not None else None
    options = EvalOptions.from_config(cfg.eval, scales=scales, flip=args.flip, device=args.device,
                                      input_size=args.input_size, alpha=args.alpha,
                                      pose_input=args.pose_input, precision=args.precision,
                                      calibrate=args.calibrate, video_batch=args.video_batch,
                                      first_pose=args.first_pose)  # fmt: skip
    print(eval_command(args.weights, dataset, root, args.out, args.split, options, coco=args.coco))
    return 0


# --- plot-speed ---------------------------------------------------------------------------------------------


def _add_plot_speed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot-speed", help="speed vs accuracy plot (paper Fig. 4b) from bench and score JSON")
    p.add_argument("--bench", required=True, help="JSON of `dkdpose bench --latency --out`")
    p.add_argument("--scores", required=True, nargs="+", metavar="NAME=FILE",
                   help="model name (NAME:PRECISION for a bf16/int8 row)=score JSON")  # fmt: skip
    p.add_argument("--latency-only", nargs="+", default=[], metavar="NAME",
                   help="models with a bench row but no score, drawn on the time axis only")  # fmt: skip
    p.add_argument("--norm", default="person", choices=["person", "torso"], help="PCK normalization")
    p.add_argument("--out", required=True, help="PNG to write")
    p.set_defaults(func=_run_plot_speed)


def _run_plot_speed(args: argparse.Namespace) -> int:
    from dkdpose.evaluation.plots import parse_named_files, plot_speed_accuracy, speed_accuracy_points

    points = speed_accuracy_points(args.bench, parse_named_files(args.scores), args.norm, args.latency_only)
    plot_speed_accuracy(points, args.out, title=f"speed vs accuracy (PCK by {args.norm} size)",
                        ylabel=f"Mean PCK@0.2, {args.norm} (%)")  # fmt: skip
    for name, ms, pck in points:
        print(f"{name:22s} {ms:10.1f} ms " + ("  (no score)" if pck is None else f"{pck:6.1f} %"))
    return 0


# --- predict ------------------------------------------------------------------------------------------------


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="track poses in a video, image folder, camera or stream")
    p.add_argument("input", help="video file, image folder, camera index (0) or stream URL (rtsp://...)")
    p.add_argument("--weights", required=True, help="checkpoint (.pt) of a trained model")
    p.add_argument("--out", default=None, help="overlay video to write (.mp4, .mov, .m4v or .avi)")
    p.add_argument("--json", default=None, help="keypoints JSON to write")
    p.add_argument("--csv", default=None, help="keypoints CSV to write (one row per person and frame)")
    p.add_argument("--coco", default=None, help="COCO keypoint results to write (+ _categories.json)")
    p.add_argument(
        "--box", action="append", default=[], metavar="X1,Y1,X2,Y2",
        help="start box of one person in frame 1 (repeat for several people; default: the whole frame)",
    )  # fmt: skip
    p.add_argument(
        "--boxes", default=None, metavar="FILE", help="per-frame person boxes (COCO detections JSON, MOT txt)"
    )
    p.add_argument("--box-threshold", type=float, default=0.5, help="--boxes: minimum score (default 0.5)")
    p.add_argument("--reinit-every", type=int, default=0, help="restart with P every N frames (0 = never)")
    p.add_argument("--reinit-below", type=float, default=None, help="restart when mean confidence < CONF")
    p.add_argument("--smooth", action="store_true", help="One-Euro smoothing of the output keypoints")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--runtime", default="torch", choices=["torch", "onnxruntime"], help="default torch")
    p.add_argument("--onnx-dir", default=None, help="folder written by `dkdpose export` (onnxruntime)")
    p.add_argument("--joint-set", default=None, help="refuse weights trained for another joint set")
    _add_precision(p)
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: torch's)")
    p.set_defaults(func=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from dkdpose.inference.predict import PredictOutputs, parse_box, predict
    from dkdpose.inference.tracker import TrackerOptions
    from dkdpose.inference.tracking import ReinitPolicy

    options = TrackerOptions(
        reinit=ReinitPolicy(args.reinit_every, args.reinit_below), smooth=args.smooth, device=args.device,
        runtime=args.runtime, onnx_dir=args.onnx_dir, joint_set=args.joint_set, precision=args.precision,
        calibrate=args.calibrate, threads=args.threads,
    )  # fmt: skip
    outputs = PredictOutputs(args.out, args.json, args.csv, args.coco)
    boxes = [parse_box(b) for b in args.box]
    result = predict(args.input, args.weights, outputs, boxes, options, progress=sys.stderr.isatty(),
                     box_file=args.boxes, box_threshold=args.box_threshold)  # fmt: skip
    print(
        f"{result['frames']} frames, {len(result['people'])} people, "
        f"{result['frames_per_second']:.1f} frames/s "
        f"({result['runtime']}, {result['precision']}), {len(result['reinits'])} re-initializations"
    )
    if result["stopped"]:
        print("stopped by Ctrl-C; the outputs hold the frames up to then")
    for kind, path in result["outputs"].items():
        print(f"wrote {kind}: {path}")
    return 0


# --- export -------------------------------------------------------------------------------------------------


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX (first_frame/step.onnx, export.json)")
    p.add_argument("--weights", required=True, help="checkpoint (.pt) to export")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--int8", action="store_true",
                   help="also write step_int8.onnx and first_frame_int8.onnx (static int8, QDQ)")  # fmt: skip
    p.add_argument("--calibrate", default=None, help="--int8: calibration video or image folder")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from dkdpose.export import export_onnx

    if args.calibrate and not args.int8:
        raise InputError("--calibrate applies to --int8 only")
    meta = export_onnx(args.weights, args.out, int8=args.int8, calibrate=args.calibrate)
    files = [g["file"] for g in meta["graphs"].values() if g is not None]
    print(f"wrote {', '.join(files)} and export.json to {args.out}")
    print(f"max |onnx - torch| heatmap difference on a random frame: {meta['max_abs_diff_vs_torch']:.2g}")
    return 0


# --- ablation -----------------------------------------------------------------------------------------------


def _add_ablation(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ablation", help="train, evaluate and tabulate an ablation config (paper Tables 1-2)")
    p.add_argument("--config", required=True, help="e.g. configs/ablation_synthetic_small.yaml")
    p.add_argument("--out", required=True, help="run folder (cached: rerun the command to continue)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="train only these variants")
    p.add_argument("--results", default="docs/results", help="folder for synthetic_ablation.json/.md")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key of every run"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a busy CPU)")
    p.add_argument(
        "--jobs", type=int, default=1, metavar="N",
        help="train N runs at once, each in its own process (logs in OUT/logs/; default 1)",
    )  # fmt: skip
    p.add_argument(
        "--measure-cost", type=int, default=0, metavar="STEPS",
        help="only time STEPS training steps of each run (random init) and print the projected minutes",
    )  # fmt: skip
    p.set_defaults(func=_run_ablation)


def _run_ablation(args: argparse.Namespace) -> int:
    import json

    from dkdpose.experiments.ablation import measure_costs, run_ablation

    if args.measure_cost:
        if args.jobs != 1:
            raise InputError("--measure-cost times one run at a time; leave out --jobs")
        costs = measure_costs(args.config, args.measure_cost, args.set, args.only, args.threads)
        print(json.dumps(costs, indent=2))
        return 0
    command = " ".join(["dkdpose", *sys.argv[1:]]) if sys.argv[1:2] == ["ablation"] else None
    results = run_ablation(
        args.config, args.out, args.only, args.results, args.set, command, args.threads, args.jobs
    )
    for name, r in results["variants"].items():
        print(f"{name:18} person {r['person']:5.1f}  torso {r['torso']:5.1f}  "
              f"{r['gmacs_per_frame']:.3f} GMACs/frame  {r['train_minutes']:.1f} min")  # fmt: skip
    print(f"wrote {args.results}/synthetic_ablation.json and .md")
    return 0


def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="per-frame accuracy, h_t use, centre bias and F probe of checkpoints")
    p.add_argument("--config", required=True, help="the training config (data, crops, validation videos)")
    p.add_argument("--weights", nargs="+", required=True, help="checkpoints to diagnose on the same clips")
    p.add_argument("--split", choices=["val", "test"], default="val", help="held-out videos (default val)")
    p.add_argument("--probe-steps", type=int, default=300, help="linear probe training steps (0: no probe)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", required=True, help="folder for diagnostics.json and diagnostics.md")
    p.set_defaults(func=_run_diagnose)


def _run_diagnose(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dkdpose.config import load_config
    from dkdpose.experiments.diagnose import diagnose

    if args.probe_steps < 0:
        raise InputError(f"--probe-steps must be >= 0, got {args.probe_steps}")
    cfg = load_config(args.config)
    diagnose(cfg, [Path(w) for w in args.weights], Path(args.out), args.split, args.probe_steps, args.threads)
    print(f"wrote {args.out}/diagnostics.json and diagnostics.md")
    return 0


# --- main ---------------------------------------------------------------------------------------------------

_COMMANDS = [
    _add_score,
    _add_train,
    _add_bench,
    _add_synth,
    _add_demo,
    _add_eval,
    _add_plot_speed,
    _add_predict,
    _add_export,
    _add_ablation,
    _add_diagnose,
]


def _version() -> str:
    """The installed distribution's version, else the package's own (a clone on PYTHONPATH)."""
    from importlib.metadata import PackageNotFoundError, version

    import dkdpose

    try:
        return version("dkdpose")
    except PackageNotFoundError:
        return dkdpose.__version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dkdpose", description="Dynamic Kernel Distillation for efficient pose estimation in videos."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"dkdpose {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


# command: (file outputs, folder outputs, inputs, dataset folders read), as argument names
_OUTPUTS = {
    "score": (["out"], [], ["predictions"], ["root"]),
    "bench": (["out"], [], ["config"], []),
    "plot-speed": (["out"], [], ["bench", "scores"], []),
    "predict": (["out", "json", "csv"], [], ["input", "weights"], ["input", "onnx_dir"]),
    "eval": ([], ["out"], ["weights"], ["root"]),
    "export": ([], ["out"], ["weights"], []),
    "synth": ([], ["out"], ["preset"], []),
    "train": ([], ["out"], ["config"], []),  # and data.root of the config: checked by `train`
    "demo": ([], ["out"], [], []),
    "ablation": ([], ["out", "results"], ["config"], []),
    "diagnose": ([], ["out"], ["config", "weights"], []),
}


def _check_outputs(args: argparse.Namespace) -> None:
    """The output guard of `dkdpose.io.check_output` for every output argument of the command."""
    from dkdpose.io import check_output

    files, folders, inputs, roots = _OUTPUTS.get(args.command, ([], [], [], []))

    def values(names: list[str]) -> list[str]:
        found = {n: getattr(args, n, None) for n in names}
        flat = [(n, v) for n, f in found.items() for v in (f if isinstance(f, list) else [f])]
        flat = [(n, v) for n, v in flat if v is not None]
        return [v.partition("=")[2] if n == "scores" else v for n, v in flat]  # scores: NAME=FILE

    for names, folder in ((files, False), (folders, True)):
        for name in names:
            if getattr(args, name, None) is not None:
                what = "--" + name.replace("_", "-")
                check_output(getattr(args, name), values(inputs), values(roots), folder, what)


_NUMBER_LISTS = ("--box",)  # options whose value may start with a minus sign: --box -50,10,200,300


def _attach_negative_values(argv: list[str]) -> list[str]:
    """`--box -50,...` -> `--box=-50,...`: argparse would take the value for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in _NUMBER_LISTS and re.fullmatch(r"-[\d.][\d.,eE+-]*", arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from dkdpose.errors import one_line

    args = build_parser().parse_args(_attach_negative_values(sys.argv[1:] if argv is None else list(argv)))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    try:
        _check_outputs(args)
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"dkdpose {args.command}: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # unreadable input, full disk, ...: the file and the reason, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"dkdpose {args.command}: error: {one_line(where + (e.strerror or str(e)))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dkdpose {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
