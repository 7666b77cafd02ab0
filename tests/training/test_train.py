"""Training: Algorithm 1's step, λ, every variant from the CLI, exact resume, DDP over gloo, refusals."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_datasets import penn_labels, write_penn_video

from dkdpose.cli import main
from dkdpose.config import from_dict, save_config
from dkdpose.data.clips import ClipDataset
from dkdpose.data.readers import read_records
from dkdpose.errors import InputError
from dkdpose.models.build import build_model
from dkdpose.training import loop as loop_module
from dkdpose.training import step as step_module
from dkdpose.training.loop import (
    Trainer,
    build_discriminator,
    generator_param_groups,
    lr_factor,
    make_optimizer,
    make_scheduler,
    train,
)
from dkdpose.training.losses import pose_l2, reconstruction_l2, update_lambda
from dkdpose.training.step import discriminate, gan_step, generate

TINY = {
    "data": {"dataset": "penn_action", "input_size": 32, "clip_length": 3, "workers": 0, "augment": True},
    "model": {"name": "dkd_r18", "initializer": "resnet18", "channels": 32, "kernel_size": 3},
    "train": {"epochs": 2, "batch_size": 2, "steps_per_epoch": 2, "log_every": 1, "lr_milestones": [1]},
}


@pytest.fixture(scope="module")
def penn_root(tmp_path_factory) -> Path:
    """Six training and two test videos of six tiny random frames, in the Penn Action layout."""
    root = tmp_path_factory.mktemp("penn")
    rng = np.random.default_rng(0)
    for i in range(8):
        write_penn_video(root, f"{i + 1:04d}", penn_labels(6, i < 6, rng))
    return root


def tiny_cfg(root: Path, **sections):
    d = copy.deepcopy(TINY)
    d["data"]["root"] = str(root)
    for section, values in sections.items():
        d.setdefault(section, {}).update(values)
    return from_dict(d)


FORK_AFTER_OPENCV = """
import sys
from concurrent.futures import ThreadPoolExecutor
import cv2, numpy as np
from dkdpose.config import from_dict
from dkdpose.training.loaders import build_loaders, load_train_records
from dkdpose.training.runtime import Dist
img = np.zeros((480, 480, 3), np.uint8)
with ThreadPoolExecutor(4) as pool:  # OpenCV's own thread pool runs in this process, as in an evaluation
    list(pool.map(lambda _: cv2.warpAffine(img, np.eye(2, 3, dtype=np.float32), (400, 400)), range(8)))
cfg = from_dict({"data": {"dataset": "penn_action", "root": sys.argv[1], "input_size": 32, "clip_length": 3,
                          "workers": 2}, "train": {"batch_size": 2}})
train_dl, _ = build_loaders(cfg, load_train_records(cfg), Dist())
print(tuple(next(iter(train_dl))["image"].shape))
"""


def test_loader_workers_start_after_opencv_ran_in_the_process(penn_root):
    """Training after an evaluation in the same process (`dkdpose ablation`, `dkdpose demo`): the forked
    DataLoader workers must not hang on OpenCV's thread pool."""
    out = subprocess.run([sys.executable, "-c", FORK_AFTER_OPENCV, str(penn_root)], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(2, 3, 3, 32, 32)"


def tiny_batch(cfg, root: Path) -> dict:
    records = read_records("penn_action", root, "train")
    ds = ClipDataset(records, clip_length=cfg.data.clip_length, input_size=(32, 32), seed=0)
    return torch.utils.data.default_collate([ds[0], ds[1]])


@pytest.mark.slow
@pytest.mark.parametrize("joint", [False, True], ids=["two_passes", "one_batch"])
def test_gan_step_updates_d_on_detached_predictions_and_g_with_d_frozen(penn_root, joint):
    """Real and fake pairs through D in two passes (the paper's reading) or one batch (shared BN stats)."""
    torch.manual_seed(0)
    cfg = tiny_cfg(penn_root, train={"variant": "dkd", "eta": 0.5, "joint_discriminator_batch": joint})
    gen = build_model("dkd_r18", num_joints=13, **cfg.model_kwargs())
    disc = build_discriminator(cfg, 13)
    batch = {k: v for k, v in tiny_batch(cfg, penn_root).items() if torch.is_tensor(v)}
    gen0, disc0 = copy.deepcopy(gen), copy.deepcopy(disc)
    opt_g = torch.optim.SGD(gen.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(disc.parameters(), lr=0.1)
    lam = 0.3
    res = gan_step(gen, disc, "temporal", batch, opt_g, opt_d, lam, cfg, None, _no_autocast)

    # reference D gradient: L_D's terms with the predictions detached
    heat = gen0(batch["image"]).detach()
    (rec_f, d_f), (rec_r, d_r) = discriminate(
        disc0, "temporal", batch["image"], heat, batch["heatmaps"], joint
    )
    (reconstruction_l2(rec_r, d_r) - lam * reconstruction_l2(rec_f, d_f)).backward()
    # reference G gradient: L_G through a frozen copy of D
    disc_frozen = copy.deepcopy(disc0).requires_grad_(False)
    gen_ref = copy.deepcopy(gen0)
    heat = gen_ref(batch["image"])
    (rec_f, d_f), _ = discriminate(
        disc_frozen, "temporal", batch["image"], heat, batch["heatmaps"], joint
    )
    (
        pose_l2(heat, batch["heatmaps"], batch["target_weight"]) + 0.5 * reconstruction_l2(rec_f, d_f)
    ).backward()

    for p, ref in zip(disc.parameters(), disc0.parameters(), strict=True):
        _assert_same_gradient(p.grad, ref.grad)
    for p, ref in zip(gen.parameters(), gen_ref.parameters(), strict=True):
        _assert_same_gradient(p.grad, ref.grad)
    assert _changed(gen, gen0) and _changed(disc, disc0)
    assert res["lambda"] == update_lambda(lam, res["l2_real"], res["l2_fake"], 0.1)


def _assert_same_gradient(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal up to float32 summation-order noise, relative to the tensor's largest entry."""
    assert got is not None and want is not None
    assert (got - want).abs().max() <= 1e-3 * want.abs().max() + 1e-8


def _changed(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return any(not torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def _no_autocast():
    return torch.autocast("cpu", enabled=False)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dkd", "no_tat", "no_pkd", "sat", "lstm", "baseline", "lstm_pm"])
def test_every_variant_trains_from_the_cli(penn_root, tmp_path, variant):
    cfg_path = tmp_path / "c.yaml"
    model = {"baseline": "baseline_r18", "lstm_pm": "lstm_pm"}.get(variant, "dkd_r18")
    cfg = tiny_cfg(penn_root, train={"variant": variant, "epochs": 1, "steps_per_epoch": 1},
                   model={"name": model})  # fmt: skip
    save_config(cfg, cfg_path)
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg_path), "--out", str(out)]) == 0
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["variant"] == variant and ckpt["epoch"] == 1 and ckpt["joint_set"] == "penn_action"
    assert (ckpt["disc"] is not None) == (variant in ("dkd", "no_pkd", "sat", "lstm"))
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[:7] == ["step", "epoch", "loss_g", "loss_pose", "loss_d", "l2_real", "l2_fake"]
    assert len(rows) == 2 and (out / "config.yaml").exists()


def test_lr_schedule_warms_up_then_steps_down_at_the_milestones(penn_root):
    cfg = tiny_cfg(penn_root, train={"warmup_steps": 4, "lr_milestones": [2, 3], "lr_factor": 0.1})
    factors = [lr_factor(step, 3, cfg) for step in range(12)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # warm-up, epoch 0 and 1
    assert factors[4:6] == pytest.approx([1.0, 1.0])
    assert factors[6:9] == pytest.approx([0.1] * 3) and factors[9:] == pytest.approx([0.01] * 3)
    assert lr_factor(0, 3, tiny_cfg(penn_root)) == 1.0  # warmup_steps 0: no warm-up


def test_warm_up_keeps_rmsprop_from_wrecking_a_trained_network(penn_root):
    """RMSprop's first update is ~10x lr per weight; the warm-up shrinks it by 1/warmup_steps."""
    torch.manual_seed(0)
    cfg = tiny_cfg(penn_root)
    moves = {}
    for warm in (0, 10):
        cfg.train.warmup_steps = warm
        net = torch.nn.Linear(4, 1)
        opt = make_optimizer(net.parameters(), cfg)
        sch = make_scheduler(opt, cfg, steps_per_epoch=100)
        w0 = net.weight.detach().clone()
        (net(torch.ones(1, 4)) * 1e-3).sum().backward()  # a tiny gradient
        opt.step()
        sch.step()
        moves[warm] = (net.weight.detach() - w0).abs().max().item()
        assert opt.param_groups[0]["lr"] == pytest.approx(cfg.train.lr * (1.0 if warm == 0 else 0.2))
    assert moves[0] == pytest.approx(10 * cfg.train.lr, rel=1e-3)
    assert moves[10] == pytest.approx(cfg.train.lr, rel=1e-3)


@pytest.mark.parametrize("variant", ["dkd", "no_pkd", "baseline"])
def test_stage1_lr_mult_slows_exactly_the_parts_filled_from_stage_1(penn_root, variant):
    stage1 = {"init_initializer": "stage1.pt", "init_encoder": "stage1.pt"}
    name = "baseline_r18" if variant == "baseline" else "dkd_r18"
    train_keys = {"variant": variant, "stage1_lr_mult": 0.1}
    cfg = tiny_cfg(penn_root, model={"name": name, **stage1}, train=train_keys)
    model = build_model(cfg.model_name(), num_joints=13, **cfg.model_kwargs())
    opt = make_optimizer(generator_param_groups(model, cfg), cfg)
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    slow = {k for k, lr in lrs.items() if lr == pytest.approx(0.1 * cfg.train.lr)}
    fast = {k for k, lr in lrs.items() if lr == cfg.train.lr}
    assert len(slow) + len(fast) == len(list(model.parameters()))
    stage1_parts = {"dkd": ["initializer", "encoder"], "no_pkd": ["initializer", "encoder", "classifier"],
                    "baseline": ["net"]}[variant]  # fmt: skip
    for part, module in model.named_children():
        assert {id(p) for p in module.parameters()} <= (slow if part in stage1_parts else fast), part
    cfg.train.stage1_lr_mult = 1.0  # the paper: one lr for everything
    assert len(generator_param_groups(model, cfg)) == 1
    cfg.train.stage1_lr_mult, cfg.model.init_initializer, cfg.model.init_encoder = 0.1, "", ""
    assert len(generator_param_groups(model, cfg)) == 1  # nothing comes from stage 1


def test_stage1_lr_mult_out_of_range_is_refused(penn_root):
    for bad in (0, -1, float("nan")):
        with pytest.raises(InputError, match="train.stage1_lr_mult"):
            tiny_cfg(penn_root, train={"stage1_lr_mult": bad})


def test_first_pose_ground_truth_starts_phi_from_the_true_pose_and_leaves_p_alone(penn_root):
    """train.first_pose ground_truth: the stream starts from target[:, 0], P gets no gradient; a model that
    cannot take a first pose is refused."""
    torch.manual_seed(0)
    cfg = tiny_cfg(penn_root, train={"variant": "no_tat", "first_pose": "ground_truth"})
    gen = build_model("dkd_r18", num_joints=13, **cfg.model_kwargs())
    batch = {k: v for k, v in tiny_batch(cfg, penn_root).items() if torch.is_tensor(v)}
    gen.train()
    ref = copy.deepcopy(gen)
    heat = generate(gen, batch["image"], batch["heatmaps"], "ground_truth")
    torch.testing.assert_close(heat[:, 0], batch["heatmaps"][:, 0])
    torch.testing.assert_close(heat, ref(batch["image"], first_heatmaps=batch["heatmaps"][:, 0]))
    assert not torch.allclose(generate(ref, batch["image"], batch["heatmaps"], "predicted")[:, 0], heat[:, 0])
    pose_l2(heat, batch["heatmaps"], batch["target_weight"]).backward()
    assert all(p.grad is None for p in gen.initializer.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.distillator.parameters())
    with pytest.raises(InputError, match="first_pose ground_truth needs a DKD variant"):
        tiny_cfg(penn_root, train={"variant": "no_pkd", "first_pose": "ground_truth"})
    with pytest.raises(InputError, match="train.first_pose 'truth' is not one of"):
        tiny_cfg(penn_root, train={"first_pose": "truth"})


@pytest.mark.slow
def test_freeze_keeps_a_part_at_its_start_including_batchnorm_statistics(penn_root, tmp_path):
    cfg = tiny_cfg(penn_root, data={"val_videos": 1}, train={"freeze": ["distillator"], "epochs": 1})
    torch.manual_seed(0)
    start = Trainer(cfg, tmp_path / "run", resume=False).gen.state_dict()
    start = {k: v.clone() for k, v in start.items()}
    train(cfg, tmp_path / "run")
    end = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["state_dict"]
    phi = [k for k in start if k.startswith("distillator.")]
    assert any("running_mean" in k for k in phi)
    assert all(torch.equal(start[k], end[k]) for k in phi)
    assert not all(torch.equal(start[k], end[k]) for k in start if k.startswith("encoder."))
    bad = tiny_cfg(penn_root, train={"freeze": ["phi"]})
    with pytest.raises(InputError, match="has no part 'phi'"):
        Trainer(bad, tmp_path / "bad", resume=False)


@pytest.mark.slow
@pytest.mark.parametrize("channels_last", [False, True])
def test_resume_reproduces_the_uninterrupted_run(penn_root, tmp_path, monkeypatch, channels_last):
    train_keys = {"warmup_steps": 3, "channels_last": channels_last}
    cfg = tiny_cfg(penn_root, data={"val_videos": 1}, train=train_keys)
    full = train(cfg, tmp_path / "full")
    saved = []
    real_save = loop_module.save_checkpoint
    monkeypatch.setattr(loop_module, "save_checkpoint", lambda p, s: saved.append(p.name) or real_save(p, s))
    train(cfg, tmp_path / "cut", stop_after_epoch=1)
    assert saved == ["last.pt", "best.pt"]  # last first: a kill between the two saves keeps the epoch
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 1
    with (tmp_path / "cut" / "metrics.csv").open("a") as f:  # a row logged by a run killed in epoch 2
        f.write("3,2,0.5\n")
    resumed = train(cfg, tmp_path / "cut", resume=True)
    assert resumed["step"] == full["step"] == 4
    steps = [row.split(",")[0] for row in (tmp_path / "cut" / "metrics.csv").read_text().splitlines()]
    full_steps = [row.split(",")[0] for row in (tmp_path / "full" / "metrics.csv").read_text().splitlines()]
    assert steps == full_steps  # no repeated rows after the resume
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for key in ("state_dict", "disc"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs after resume"
    assert a["lambda"] == b["lambda"] and a["optimizer"]["param_groups"][0]["lr"] == 5e-5
    assert (tmp_path / "full" / "best.pt").exists()


def test_refusals_exit_2_with_one_line(penn_root, tmp_path, capsys):
    cfg_path = tmp_path / "c.yaml"
    save_config(tiny_cfg(penn_root), cfg_path)
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg_path), "--out", str(out), "--resume"]) == 2
    assert "no last.pt" in capsys.readouterr().err
    out.mkdir()
    (out / "last.pt").write_bytes(b"not a checkpoint")
    assert main(["train", "--config", str(cfg_path), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg_path), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "last.pt" in err and len(err.splitlines()) == 1
    assert (
        main(["train", "--config", str(cfg_path), "--out", str(tmp_path / "r2"), "--set", "data.root=/nope"])
        == 2
    )
    assert "/nope" in capsys.readouterr().err


def test_a_model_flag_that_is_not_a_bool_is_refused(penn_root, tmp_path, capsys):
    cfg_path = tmp_path / "c.yaml"
    save_config(tiny_cfg(penn_root), cfg_path)
    out = tmp_path / "run"
    argv = ["train", "--config", str(cfg_path), "--out", str(out), "--set", "model.static_head=maybe"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "model.static_head" in err and len(err.splitlines()) == 1
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(
    ("sets", "named"),
    [(["train.first_pose=truth"], "train.first_pose"),
     (["train.variant=no_pkd", "train.first_pose=ground_truth"], "needs a DKD variant")],
)  # fmt: skip
def test_a_bad_first_pose_is_refused_from_the_cli(penn_root, tmp_path, capsys, sets, named):
    cfg_path = tmp_path / "c.yaml"
    save_config(tiny_cfg(penn_root), cfg_path)
    out = tmp_path / "run"
    argv = ["train", "--config", str(cfg_path), "--out", str(out)]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and len(err.splitlines()) == 1
    assert not out.exists()  # nothing written


def test_non_finite_loss_stops_the_run(penn_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(step_module, "pose_l2", lambda *a: torch.tensor(float("nan"), requires_grad=True))
    cfg_path = tmp_path / "c.yaml"
    save_config(tiny_cfg(penn_root, train={"variant": "no_tat"}), cfg_path)
    assert main(["train", "--config", str(cfg_path), "--out", str(tmp_path / "run")]) == 1
    assert "non-finite loss" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.slow
def test_two_process_ddp_over_gloo(penn_root, tmp_path):
    cfg_path = tmp_path / "c.yaml"
    save_config(tiny_cfg(penn_root, train={"epochs": 1, "steps_per_epoch": 1}), cfg_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29533",
           "-m", "dkdpose", "train", "--config", str(cfg_path), "--out", str(tmp_path / "ddp")]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert ckpt["step"] == 1 and not any(k.startswith("module.") for k in ckpt["state_dict"])
    assert len((tmp_path / "ddp" / "metrics.csv").read_text().splitlines()) == 2  # rank 0 logs alone
