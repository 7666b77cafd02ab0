"""The `dkdpose` command line: argparse subcommands, each a thin shim over an importable function.

Every subcommand has an `_add_<name>(subparsers)` function that declares its arguments and sets `func` to a
`_run_<name>(args) -> int` function. Library functions raise `dkdpose.errors.InputError` for bad input; `main`
turns that into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from dkdpose.errors import InputError

log = logging.getLogger("dkdpose")


# --- score --------------------------------------------------------------------------------------------------


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score a predictions file with the PCK protocol of docs/protocol.md")
    p.add_argument("--dataset", required=True, choices=["penn_action", "sub_jhmdb"])
    p.add_argument("--root", required=True, help="dataset folder in its original on-disk layout")
    p.add_argument("--predictions", required=True, help="predictions JSON (docs/protocol.md)")
    p.add_argument("--split", type=int, default=None, help="Sub-JHMDB split 1-3 (default 1)")
    p.add_argument("--alpha", type=float, default=0.2, help="PCK threshold (default 0.2)")
    p.add_argument("--out", default=None, help="write the score JSON here (default: print it)")
    p.set_defaults(func=_run_score)


def _run_score(args: argparse.Namespace) -> int:
    import json

    from dkdpose.score import format_table, score_predictions, write_score

    score = score_predictions(args.dataset, args.root, args.predictions, split=args.split, alpha=args.alpha)
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
    p.add_argument("--config", required=True, help="YAML config (see configs/)")
    p.add_argument("--out", required=True, help="run directory (config.yaml, metrics.csv, last.pt, best.pt)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config key"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from dkdpose.config import load_config
    from dkdpose.train import NonFiniteLoss, train

    cfg = load_config(args.config, args.set)
    try:
        result = train(cfg, args.out, resume=args.resume)
    except NonFiniteLoss as e:
        print(f"dkdpose train: {e}", file=sys.stderr)
        return 1
    print(f"trained to epoch {result['epoch']} ({result['step']} steps); checkpoint {result['last']}")
    return 0


# --- bench --------------------------------------------------------------------------------------------------


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="efficiency of the models: FLOPs (GMACs) and parameters")
    p.add_argument("--flops", action="store_true", help="count GMACs per frame and parameters (Table 1 style)")
    p.add_argument("--size", type=int, default=256, help="square input size (default 256; lstm_pm runs at 368/256x)")
    p.add_argument("--models", default=None, help="comma-separated model names (default: the paper's table)")
    p.add_argument("--out", default=None, help="also write the result as JSON here")
    p.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from dkdpose.bench import bench_flops, format_flops_table, save_result

    if not args.flops:
        raise InputError("choose what to measure: --flops")
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    result = bench_flops(size=args.size, models=models)
    print(format_flops_table(result))
    if args.out:
        save_result(args.out, result)
    return 0


# --- main ---------------------------------------------------------------------------------------------------

_COMMANDS = [_add_score, _add_train, _add_bench]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dkdpose", description="Dynamic Kernel Distillation for efficient pose estimation in videos."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"dkdpose {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dkdpose {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
