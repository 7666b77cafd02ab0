"""Write a checkpoint with random weights, for speed and memory measurements (they do not depend on weights).

    python tools/untrained_checkpoint.py dkd_r18_untrained.pt --model dkd_r18 --input-size 256

The file is an ordinary dkdpose checkpoint (`dkdpose.models.weights`), so `dkdpose predict`, `export` and
`bench`-style timing read it like a trained one. An existing file is never overwritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dkdpose.models.build import build_model
from dkdpose.models.weights import save_checkpoint
from dkdpose.skeleton import get_joint_set


def untrained_state(model: str, joint_set: str, model_kwargs: dict) -> dict:
    """The checkpoint dict of `model` with random weights, for `joint_set`'s joints."""
    num_joints = get_joint_set(joint_set).num_joints
    net = build_model(model, num_joints, **model_kwargs)
    return {
        "model": model,
        "model_kwargs": dict(model_kwargs),
        "joint_set": joint_set,
        "num_joints": num_joints,
        "state_dict": net.state_dict(),
        "variant": "untrained",
        "epoch": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="checkpoint to write (refused if it exists)")
    parser.add_argument("--model", default="dkd_r18", help="a model name of build_model (default dkd_r18)")
    parser.add_argument("--joint-set", default="penn_action", help="penn_action (default) or sub_jhmdb")
    parser.add_argument("--input-size", type=int, default=256, help="square input (default 256)")
    parser.add_argument("--initializer", default=None, help="P's backbone (default resnet101)")
    parser.add_argument("--channels", type=int, default=None, help="C (default 256)")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out}: already exists; not overwritten")
    kwargs = {"input_size": args.input_size}
    kwargs.update({k: v for k, v in (("initializer", args.initializer), ("channels", args.channels)) if v})
    save_checkpoint(args.out, untrained_state(args.model, args.joint_set, kwargs))
    print(f"wrote {args.out} ({args.model}, {args.joint_set}, random weights)")


if __name__ == "__main__":
    main()
