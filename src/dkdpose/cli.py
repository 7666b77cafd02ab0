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


# --- score -------------------------------------------------------------------------------------------------------


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
    raise NotImplementedError  # filled in by the foundation issue


# --- main --------------------------------------------------------------------------------------------------------

_COMMANDS = [_add_score]


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
