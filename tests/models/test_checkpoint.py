"""Checkpoints: atomic round trip, and clear errors for corrupt, foreign or mismatched files."""

from __future__ import annotations

import pytest
import torch

from dkdpose.errors import InputError
from dkdpose.models.build import build_model, build_model_from_checkpoint
from dkdpose.models.weights import load_checkpoint, save_checkpoint

KW = {"initializer": "resnet18", "channels": 16}


def _ckpt(model_name: str = "dkd_r18", joint_set: str = "penn_action", num_joints: int = 13) -> dict:
    model = build_model(model_name, num_joints, **KW)
    return {
        "model": model_name, "model_kwargs": dict(KW), "joint_set": joint_set, "num_joints": num_joints,
        "state_dict": model.state_dict(), "variant": "dkd", "epoch": 3, "lambda": 0.25,
        "config": {"train": {"lr": 5e-4}},
    }  # fmt: skip


def test_round_trip_rebuilds_the_same_model(tmp_path):
    torch.manual_seed(0)
    ckpt = _ckpt()
    path = tmp_path / "runs" / "last.pt"
    save_checkpoint(path, ckpt)
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temporary file left behind
    loaded = load_checkpoint(path, expect_model="dkd_r18", expect_joint_set="penn_action")
    assert loaded["epoch"] == 3 and loaded["lambda"] == 0.25 and loaded["config"]["train"]["lr"] == 5e-4
    model = build_model_from_checkpoint(loaded).eval()
    original = build_model("dkd_r18", 13, **KW)
    original.load_state_dict(ckpt["state_dict"])
    clip = torch.randn(1, 2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(clip), original.eval()(clip))


def test_corrupt_foreign_and_missing_files_are_input_errors(tmp_path):
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x04not really a checkpoint")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    torch.save(torch.zeros(2), tmp_path / "tensor.pt")
    cases = {
        "corrupt.pt": "not a readable dkdpose checkpoint",
        "foreign.pt": "missing model, model_kwargs",
        "tensor.pt": "holds a Tensor",
        "absent.pt": "not found",
    }
    for name, message in cases.items():
        with pytest.raises(InputError, match=rf"{name}.*{message}"):
            load_checkpoint(tmp_path / name)


class _Payload:  # a pickled class: weights_only loading must refuse to run it
    pass


def test_pickled_code_is_refused(tmp_path):
    torch.save({**_ckpt("baseline_r18"), "extra": _Payload()}, tmp_path / "code.pt")
    with pytest.raises(InputError, match=r"code\.pt: not a readable"):
        load_checkpoint(tmp_path / "code.pt")


def test_another_architecture_or_joint_count_fails_clearly(tmp_path):
    save_checkpoint(tmp_path / "b18.pt", _ckpt("baseline_r18"))
    with pytest.raises(
        InputError, match=r"b18\.pt: checkpoint holds model 'baseline_r18', expected 'dkd_r18'"
    ):
        load_checkpoint(tmp_path / "b18.pt", expect_model="dkd_r18")
    with pytest.raises(
        InputError, match=r"b18\.pt: .*joint set 'penn_action' \(13 joints\), expected 'sub_jhmdb'"
    ):
        load_checkpoint(tmp_path / "b18.pt", expect_joint_set="sub_jhmdb")

    lying = _ckpt("baseline_r18", joint_set="sub_jhmdb", num_joints=13)  # Sub-JHMDB has 15 joints
    save_checkpoint(tmp_path / "lying.pt", lying)
    with pytest.raises(InputError, match=r"lying\.pt: joint set 'sub_jhmdb' has 15 joints"):
        load_checkpoint(tmp_path / "lying.pt")

    swapped = {**_ckpt("baseline_r18"), "state_dict": build_model("baseline_r34", 13, **KW).state_dict()}
    save_checkpoint(tmp_path / "swapped.pt", swapped)
    with pytest.raises(InputError, match=r"swapped\.pt: weights do not fit BaselinePose"):
        build_model_from_checkpoint(load_checkpoint(tmp_path / "swapped.pt"))

    other_k = {**_ckpt("baseline_r18"), "state_dict": build_model("baseline_r18", 15, **KW).state_dict()}
    save_checkpoint(tmp_path / "k15.pt", other_k)
    with pytest.raises(InputError, match=r"k15\.pt: .*shape mismatch.*net\.classifier"):
        build_model_from_checkpoint(load_checkpoint(tmp_path / "k15.pt"))
