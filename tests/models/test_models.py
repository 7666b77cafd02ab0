"""The DKD model family: shapes, gradients, the dynamic convolution, streaming, ONNX export, weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dkdpose.errors import InputError
from dkdpose.models.backbone import PoseBackbone, ResNetTrunk
from dkdpose.models.build import MODEL_NAMES, build_model, build_model_from_checkpoint, scaled_kernel_size
from dkdpose.models.discriminator import SpatialDiscriminator, TemporalDiscriminator
from dkdpose.models.distillator import AdaptiveAvgPool, pose_pooled_patches
from dkdpose.models.dkd import POSE_INPUTS, set_pose_input
from dkdpose.models.encoders import MobileNetV3Encoder, SmallCPM
from dkdpose.models.matching import (
    KernelMatching,
    dynamic_depthwise_conv,
    grouped_depthwise_conv,
    shifted_depthwise_conv,
    tap_matmul_matching,
)

K = 13
SMALL = dict(initializer="resnet18", channels=16, lstm_hidden=16)  # tiny but complete models for a 2-core CPU
VIDEO_KINDS = ["baseline_r18", "dkd_r18", "dkd_r18_no_pkd", "dkd_r18_lstm", "lstm_pm"]
ENCODER_MODELS = ["dkd_smallcpm", "dkd_mobilenetv3", "baseline_smallcpm", "baseline_mobilenetv3"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _excite(model: nn.Module) -> nn.Module:
    """Re-draw conv weights (fan-in scaled) and calibrate the BN statistics on random clips, so that every
    layer's output is O(1) in eval mode (the real inits give ~0 heatmaps: comparisons would be vacuous)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.weight.shape[0] * 4
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration passes
        model.train()
        for _ in range(2):
            model(torch.randn(2, 3, 3, 64, 64, generator=g))
    return model.eval()


def _stream(model: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    heat, state = model.init_stream(clip[:, 0])
    out = [heat]
    for t in range(1, clip.shape[1]):
        heat, state = model.step(clip[:, t], state)
        out.append(heat)
    return torch.stack(out, dim=1)


# --- shapes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_maps_a_clip_to_stride8_heatmaps(name):
    with torch.device("meta"):  # shapes only (real values: the streaming and gradient tests below)
        model = build_model(name, K, **SMALL).eval()
        clip = torch.randn(2, 3, 3, 64, 64)
    with torch.no_grad():
        out = model(clip)
        heat, state = model.init_stream(clip[:, 0])
        heat2, state2 = model.step(clip[:, 1], state)
        single = model.single_frame(clip[:, 0])
    assert out.shape == (2, 3, K, 8, 8)
    assert heat.shape == heat2.shape == single.shape == (2, K, 8, 8)
    assert isinstance(state, tuple) and all(isinstance(s, torch.Tensor) for s in state)
    assert [s.shape for s in state] == [s.shape for s in state2]
    if name.startswith("dkd") and "_" not in name[4:]:
        assert [tuple(s.shape) for s in state] == [(2, 16, 7, 7)]  # the kernel bases (B, C, S, S)
    if name.startswith("baseline") or name.endswith("no_pkd"):
        assert state == ()


def test_backbone_is_stride_8_with_256_channels_and_the_dkd_parts_are_exposed():
    assert PoseBackbone(18)(torch.randn(1, 3, 64, 96)).shape == (1, 256, 8, 12)
    model = build_model("dkd_r18", K, initializer="resnet18")
    assert model.initializer.features.trunk.depth == 18 and model.encoder.trunk.depth == 18
    assert model.distillator is not None and model.distillator.kernel_size == 7
    with torch.device("meta"):
        assert build_model("dkd_r34", K).initializer.features.trunk.depth == 101  # the paper's P by default
        assert build_model("baseline_r18", K).distillator is None


def test_small_encoders_give_c_features_at_stride_8():
    assert SmallCPM(channels=24)(torch.randn(2, 3, 64, 96)).shape == (2, 24, 8, 12)
    assert MobileNetV3Encoder(channels=24)(torch.randn(1, 3, 64, 96)).shape == (1, 24, 8, 12)
    model = build_model("dkd_smallcpm", K, **SMALL)
    assert isinstance(model.encoder, SmallCPM) and model.initializer.features.trunk.depth == 18
    assert isinstance(build_model("baseline_mobilenetv3", K, channels=16).encoder, MobileNetV3Encoder)
    with pytest.raises(InputError, match="SmallCPM has no ImageNet weights"):
        build_model("baseline_smallcpm", K, pretrained="torchvision")


def test_discriminators_reconstruct_at_heatmap_resolution_and_train():
    img0, img1 = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    h0, h1 = torch.rand(2, K, 8, 8), torch.rand(2, K, 8, 8)
    temporal, spatial = (
        TemporalDiscriminator(K, depth=18, channels=16),
        SpatialDiscriminator(K, depth=18, channels=16),
    )
    d = temporal(img0, h0, img1, h1)
    r = spatial(img0, h0)
    assert d.shape == r.shape == (2, K, 8, 8)
    (d.square().mean() + r.square().mean()).backward()
    for net in (temporal, spatial):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


# --- gradients ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VIDEO_KINDS + ENCODER_MODELS)
def test_every_parameter_receives_a_gradient(name):
    model = build_model(name, K, **SMALL).train()
    model(torch.randn(2, 2, 3, 64, 64)).square().mean().backward()  # T=2: frame 2 uses every part
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_dkd_gradients_flow_through_time_into_the_initializer():
    """h_1 = P(I_1) feeds Φ: the loss on frame 3 alone must reach P (no detach between steps)."""
    model = build_model("dkd_r18", K, **SMALL).train()
    model(torch.randn(2, 3, 3, 64, 64))[:, 2].square().mean().backward()
    assert model.initializer.classifier.weight.grad.abs().sum() > 0
    assert model.distillator.layers[0].weight.grad.abs().sum() > 0


# --- the dynamic convolution --------------------------------------------------------------------------------


def _per_sample_reference(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    s = kernels.shape[-1]
    return torch.cat(
        [
            F.conv2d(x[b : b + 1], kernels[b].unsqueeze(1), padding=s // 2, groups=x.shape[1])
            for b in range(len(x))
        ]
    )


def test_grouped_dynamic_conv_equals_a_per_sample_loop():
    x, kernels = torch.randn(3, 5, 9, 11), torch.randn(3, 5, 7, 7)
    torch.testing.assert_close(dynamic_depthwise_conv(x, kernels), _per_sample_reference(x, kernels))


@pytest.mark.parametrize("batch", [1, 3])
def test_shifted_dynamic_conv_equals_the_grouped_one(batch):
    x, kernels = torch.randn(batch, 5, 9, 11), torch.randn(batch, 5, 7, 7)
    want = grouped_depthwise_conv(x, kernels)
    torch.testing.assert_close(shifted_depthwise_conv(x, kernels), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(want, _per_sample_reference(x, kernels))


@pytest.mark.parametrize("batch", [1, 3])
def test_tap_matmul_matching_equals_the_depthwise_conv_then_u(batch):
    x, kernels, u = torch.randn(batch, 5, 9, 11), torch.randn(batch, 5, 3, 3), torch.randn(4, 5, 1, 1)
    want = F.conv2d(_per_sample_reference(x, kernels), u)
    torch.testing.assert_close(tap_matmul_matching(x, kernels, u), want, rtol=1e-5, atol=1e-5)


def test_matching_module_equals_the_per_sample_formula():
    match = KernelMatching(channels=8, num_joints=K, kernel_size=5).eval()
    with torch.no_grad():  # a non-identity BatchNorm
        (
            match.bn.running_mean.uniform_(-1, 1),
            match.bn.running_var.uniform_(0.5, 2),
            match.bn.weight.uniform_(0.5, 2),
        )
    feats, kernels = torch.randn(3, 8, 10, 10), torch.randn(3, 8, 5, 5)
    expected = match.bn(match.U(_per_sample_reference(match.V(feats), kernels)))
    torch.testing.assert_close(match(feats, kernels), expected)


def test_changing_sample_2_leaves_sample_1_unchanged():
    x, kernels = torch.randn(2, 6, 9, 9), torch.randn(2, 6, 7, 7)
    x2, kernels2 = x.clone(), kernels.clone()
    x2[1], kernels2[1] = torch.randn(6, 9, 9), torch.randn(6, 7, 7)
    a, b = dynamic_depthwise_conv(x, kernels), dynamic_depthwise_conv(x2, kernels2)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    assert not torch.allclose(a[1], b[1])

    model = _excite(build_model("dkd_r18", K, **SMALL)).eval()
    clip = torch.randn(2, 3, 3, 64, 64)
    clip2 = clip.clone()
    clip2[1] = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        out, out2 = model(clip), model(clip2)
    torch.testing.assert_close(out[0], out2[0], rtol=0, atol=1e-6)
    assert not torch.allclose(out[1], out2[1])


def test_adaptive_pool_as_matrices_equals_torch():
    pool = AdaptiveAvgPool(7)
    for h, w in ((16, 16), (8, 12), (13, 7), (7, 7)):
        x = torch.randn(2, 3, h, w)
        torch.testing.assert_close(pool(x), F.adaptive_avg_pool2d(x, 7))


# --- streaming ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VIDEO_KINDS + ENCODER_MODELS[:2])
def test_streaming_equals_forward(name):
    model = _excite(build_model(name, K, **SMALL)).eval()
    clip = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        full, streamed = model(clip), _stream(model, clip)
    assert full.abs().mean() > 1e-2  # non-trivial heatmaps, so the comparison means something
    torch.testing.assert_close(streamed, full, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["dkd_r18", "dkd_smallcpm", "dkd_mobilenetv3"])
def test_onnx_export_of_the_dkd_step_takes_any_batch_and_matches_torch(tmp_path, name):
    """Traced at batch 2 with a dynamic batch axis; ONNX Runtime then runs batches 1 and 3."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = _excite(build_model(name, K, **SMALL)).eval()

    class Step(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, frame, kernels):
            heat, (nxt,) = self.m.step(frame, (kernels,))
            return heat, nxt

    def inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            _, (kernels,) = model.init_stream(torch.randn(batch, 3, 64, 64))
        return torch.randn(batch, 3, 64, 64), kernels

    path = tmp_path / "step.onnx"
    names = ["frame", "kernels", "heat", "next_kernels"]
    torch.onnx.export(
        Step(model).eval(), inputs(2), str(path), dynamo=False, input_names=names[:2], output_names=names[2:],
        dynamic_axes={n: {0: "batch"} for n in names},
    )  # fmt: skip
    onnx.checker.check_model(onnx.load(str(path)))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        frame, kernels = inputs(batch)
        with torch.no_grad():
            want = model.step(frame, (kernels,))
            want = (want[0], *want[1])
        got = session.run(None, {"frame": frame.numpy(), "kernels": kernels.numpy()})
        assert got[0].shape == (batch, K, 8, 8)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w.numpy(), atol=1e-4, rtol=1e-4)


# --- weights ------------------------------------------------------------------------------------------------


def test_imagenet_weights_load_from_a_local_file_and_fail_clearly_otherwise(tmp_path, monkeypatch):
    import torchvision

    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    trunk = ResNetTrunk(18)
    trunk.load_imagenet(tmp_path / "r18.pth")
    torch.testing.assert_close(trunk.layer4[1].conv2.weight, ref.layer4[1].conv2.weight)

    with pytest.raises(InputError, match="does not fit resnet34"):
        ResNetTrunk(34).load_imagenet(tmp_path / "r18.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    with pytest.raises(InputError, match=r"resnet18.*not found.*does not download"):
        build_model("baseline_r18", K, pretrained="torchvision")
    (tmp_path / "weights").mkdir()
    with pytest.raises(InputError, match="resnet18-f37072fd.pth"):
        build_model("baseline_r18", K, pretrained=tmp_path / "weights")


def test_stage1_single_frame_weights_initialize_p_and_f():
    stage1 = build_model("baseline_r18", K, channels=16).state_dict()
    model = build_model("dkd_r18", K, **SMALL)
    model.load_initializer_state(stage1, source="stage1.pt")
    model.load_encoder_state(stage1, source="stage1.pt")
    torch.testing.assert_close(model.initializer.classifier.weight, stage1["net.classifier.weight"])
    torch.testing.assert_close(model.encoder.trunk.conv1.weight, stage1["net.features.trunk.conv1.weight"])

    other_k = build_model("baseline_r18", 15, channels=16).state_dict()
    with pytest.raises(InputError, match=r"stage1\.pt.*shape mismatch"):
        model.load_initializer_state(other_k, source="stage1.pt")
    with pytest.raises(InputError, match=r"r34\.pt.*unexpected weights"):
        model.load_initializer_state(
            build_model("baseline_r34", K, channels=16).state_dict(), source="r34.pt"
        )
    with pytest.raises(InputError, match="no single-frame"):
        model.load_encoder_state({"foo.weight": torch.zeros(1)}, source="x.pt")


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("dkd_r152", {}, "unknown model"),
        ("baseline_r18_lstm", {}, "unknown model"),
        ("dkd_r18", {"kernel_size": 6}, "odd"),
        ("dkd_r18", {"initializer": "vgg16"}, "unknown backbone"),
        ("lstm_pm", {"pretrained": "torchvision"}, "do not apply"),
        ("dkd_r18", {"input_size": 100}, "multiple of 8"),
    ],
)
def test_bad_model_options_are_input_errors(name, kwargs, message):
    with pytest.raises(InputError, match=message):
        build_model(name, K, **kwargs)


# --- the DKD recipe options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("heatmap, expected", [(8, 3), (12, 3), (16, 3), (24, 5), (32, 7), (48, 11)])
def test_scaled_kernel_size_covers_the_share_of_the_map_the_papers_s7_covers(heatmap, expected):
    assert scaled_kernel_size(heatmap) == expected
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 0}
    model = build_model("dkd_r18", 13, input_size=heatmap * 8, **kw)
    assert model.distillator.kernel_size == expected


@pytest.mark.parametrize("signed", [True, False])
def test_kernel_bases_are_signed_only_without_the_last_relu(signed):
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 3, "kernel_signed": signed}
    model = _excite(build_model("dkd_r18", 13, **kw))
    kernels = model.distillator(torch.randn(2, 16, 8, 8), torch.rand(2, 13, 8, 8))
    assert kernels.shape == (2, 16, 3, 3)
    assert bool((kernels < 0).any()) is signed


def test_gated_distillator_sees_only_the_features_under_the_pose():
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 3}
    model = _excite(build_model("dkd_r18", 13, distill_input="gated", **kw)).eval()
    phi = model.distillator
    feats, heat = torch.randn(2, 16, 8, 8), torch.zeros(2, 13, 8, 8)
    heat[:, 3, 2:5, 2:5] = 1.0  # one joint's map covers a 3x3 patch
    away = feats.clone()
    away[:, :, 6:, 6:] += 5.0  # features far from the pose
    under = feats.clone()
    under[:, :, 3, 3] += 5.0  # features under the pose
    with torch.no_grad():
        torch.testing.assert_close(phi(away, heat), phi(feats, heat))  # masked out: the kernels do not move
        assert not torch.allclose(phi(under, heat), phi(feats, heat))
        no_pose = torch.zeros_like(heat)  # without a pose the kernels carry nothing of the frame
        torch.testing.assert_close(phi(torch.randn_like(feats), no_pose), phi(feats, no_pose))
    ungated = _excite(build_model("dkd_r18", 13, **kw)).eval()
    with torch.no_grad():
        assert not torch.allclose(ungated.distillator(away, heat), ungated.distillator(feats, heat))


def test_pose_pooled_patches_average_the_neighbourhoods_under_each_joint():
    values = torch.randn(1, 4, 8, 8)
    heat = torch.zeros(1, 2, 8, 8)
    heat[0, 0, 2, 5] = 3.0  # joint 0 at (2, 5): normalised to weight 1, then the mean over 2 joints
    heat[0, 1, 0, 0] = -1.0  # negative responses carry no weight
    padded = F.pad(values, (1, 1, 1, 1))
    torch.testing.assert_close(pose_pooled_patches(values, heat, 3), padded[:, :, 2:5, 5:8] / 2)
    heat[0, 1, 7, 7] = 1.0  # joint 1 at the corner: its patch is half zero padding
    expected = (padded[:, :, 2:5, 5:8] + padded[:, :, 7:10, 7:10]) / 2
    torch.testing.assert_close(pose_pooled_patches(values, heat, 3), expected)
    assert pose_pooled_patches(values, torch.zeros_like(heat), 3).abs().max() == 0


def test_pooled_distillator_distils_only_from_around_the_pose():
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 3}
    model = _excite(build_model("dkd_r18", 13, input_size=128, distill_input="pooled", **kw)).eval()
    phi = model.distillator
    feats, heat = torch.randn(2, 16, 16, 16), torch.zeros(2, 13, 16, 16)
    heat[:, 3, 2:5, 2:5] = 1.0  # one joint around (3, 3)
    away = feats.clone()
    away[:, :, 10:, 10:] += 5.0  # beyond Φ's three 3x3 convs (3 cells) plus the patch (1 cell) from the pose
    with torch.no_grad():
        kernels = phi(feats, heat)
        assert kernels.shape == (2, 16, 3, 3)
        torch.testing.assert_close(phi(away, heat), kernels)
        moved = heat.roll(8, dims=3)  # the same pose 8 cells to the right: the kernels come from there
        assert not torch.allclose(phi(feats, moved), kernels)
        assert phi(feats, torch.zeros_like(heat)).abs().max() == 0  # no pose, no kernels
        clip = torch.randn(2, 3, 3, 128, 128)
        torch.testing.assert_close(model(clip), _stream(model, clip), rtol=1e-4, atol=1e-5)


def test_first_frame_kernels_are_distilled_once_and_kept():
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 3}
    model = _excite(build_model("dkd_r18", 13, kernels_from="first", **kw)).eval()
    clip = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        heat = model(clip)
        feats = model._encode_clip(clip)
        kernels = model.distillator(feats[:, 0], heat[:, 0])  # Φ(f_1, h_1), for every later frame
        for t in range(1, 4):
            torch.testing.assert_close(heat[:, t], model.matching(feats[:, t], kernels), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(heat, _stream(model, clip), rtol=1e-4, atol=1e-5)
        _, state = model.init_stream(clip[:, 0])
        _, later = model.step(clip[:, 1], state)
        assert later[0] is state[0]  # the stream keeps frame 1's kernels
        every = build_model("dkd_r18", 13, **kw)
        every.load_state_dict(model.state_dict())  # same weights: only where the kernels come from differs
        assert not torch.allclose(every.eval()(clip)[:, 2:], heat[:, 2:])
    with pytest.raises(InputError, match="kernels_from"):
        build_model("dkd_r18", 13, kernels_from="last", **kw)
    ckpt = {"model": "dkd_r18", "num_joints": 13, "state_dict": model.state_dict(),
            "model_kwargs": {**kw, "kernels_from": "first"}}  # fmt: skip
    assert build_model_from_checkpoint(ckpt).kernels_from == "first"


@pytest.mark.parametrize("name", ["dkd_r18", "dkd_r18_lstm"])
def test_a_stream_started_from_a_given_pose_equals_forward_with_that_first_pose(name):
    """init_stream(frame, first_heatmaps) is forward(clip, first_heatmaps) streamed; the pose is used."""
    model = _excite(build_model(name, K, **SMALL)).eval()
    assert model.takes_first_pose and not build_model("baseline_r18", K, **SMALL).takes_first_pose
    clip, given = torch.randn(2, 4, 3, 64, 64), torch.rand(2, K, 8, 8)
    with torch.no_grad():
        heat, state = model.init_stream(clip[:, 0], first_heatmaps=given)
        out = [heat]
        for t in range(1, 4):
            heat, state = model.step(clip[:, t], state)
            out.append(heat)
        full = model(clip, first_heatmaps=given)
        own = model(clip)
    assert out[0] is given
    torch.testing.assert_close(torch.stack(out, dim=1), full, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(full[:, 1], own[:, 1])  # frame 2 depends on the pose it started from


def test_first_frame_memory_keeps_h1_for_the_pose_prior_too():
    """kernels_from first with the pose prior: every later frame adds the filtered h_1, not its own h_t."""
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 3}
    model = _excite(build_model("dkd_r18", 13, kernels_from="first", pose_prior=True, **kw)).eval()
    nn.init.normal_(model.prior.weight, std=0.5)  # a prior that matters
    clip = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        heat = model(clip)
        feats = model._encode_clip(clip)
        kernels = model.distillator(feats[:, 0], heat[:, 0])
        for t in range(1, 4):
            expected = model.matching(feats[:, t], kernels) + model.prior(heat[:, 0])
            torch.testing.assert_close(heat[:, t], expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(heat, _stream(model, clip), rtol=1e-4, atol=1e-5)


def test_pose_prior_starts_as_dkd_and_carries_where_the_joints_were():
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 3}
    torch.manual_seed(0)
    plain = _excite(build_model("dkd_r18", 13, **kw))
    prior = build_model("dkd_r18", 13, pose_prior=True, **kw)
    assert prior.load_state_dict(plain.state_dict(), strict=False).missing_keys == ["prior.weight"]
    prior.eval()
    clip = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(prior(clip), plain(clip))  # zero at the start: the paper's DKD
        prior.prior.weight[:, :, 1, 1] = 1.0  # carry h_t through unchanged
        heat, base = prior(clip), plain(clip)
        # frame 2: the same kernels (Φ of frame 1 and P's h_1), plus h_1 itself
        torch.testing.assert_close(heat[:, 1], base[:, 1] + base[:, 0])
        torch.testing.assert_close(heat, _stream(prior, clip), rtol=1e-4, atol=1e-5)  # stream = forward
        _, state = prior.init_stream(clip[:, 0])
        assert len(state) == 2 and state[1].shape == (2, 13, 8, 8)  # the stream carries h_t


def test_static_head_adds_the_stage1_classifier_to_the_matching():
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 3}
    torch.manual_seed(0)
    stage1 = _excite(build_model("baseline_r18", 13, channels=16)).eval()
    model = _excite(build_model("dkd_r18", 13, static_head=True, **kw))
    model.load_initializer_state(stage1.state_dict(), "stage1.pt")
    model.load_encoder_state(stage1.state_dict(), "stage1.pt")
    torch.testing.assert_close(model.classifier.weight, stage1.net.classifier.weight)
    assert model.stage1_parts(True, True)[-1] is model.classifier  # fine-tuned with what stage 1 trained
    model.eval()
    clip = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        with_kernels = model(clip)
        torch.testing.assert_close(with_kernels, _stream(model, clip), rtol=1e-4, atol=1e-5)
        model.matching.bn.weight.zero_()  # silence the kernels' term: the single-frame network is left
        model.matching.bn.bias.zero_()
        torch.testing.assert_close(model(clip), stage1(clip), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(with_kernels[:, 1:], stage1(clip)[:, 1:])
    ckpt = {"model": "dkd_r18", "num_joints": 13, "state_dict": model.state_dict(),
            "model_kwargs": {**kw, "static_head": True}}  # fmt: skip
    assert build_model_from_checkpoint(ckpt).classifier is not None
    assert build_model("dkd_r18", 13, **kw).classifier is None  # off by default: the paper's DKD


def test_distill_input_is_checked_and_rebuilt_from_checkpoints():
    kw = {"initializer": "resnet18", "channels": 16, "kernel_size": 3}
    with pytest.raises(InputError, match="distill_input"):
        build_model("dkd_r18", 13, distill_input="sum", **kw)
    model = build_model("dkd_r18", 13, distill_input="gated", **kw)
    ckpt = {"model": "dkd_r18", "num_joints": 13, "state_dict": model.state_dict(),
            "model_kwargs": {**kw, "distill_input": "gated"}}  # fmt: skip
    assert build_model_from_checkpoint(ckpt).distillator.reads == "gated"
    del ckpt["model_kwargs"]["distill_input"]  # checkpoints from before the option: the paper's input
    assert build_model_from_checkpoint(ckpt).distillator.reads == "concat"


def test_pose_input_switch_changes_what_phi_reads_and_nothing_else():
    model = _excite(build_model("dkd_r18", 13, initializer="resnet18", channels=16, kernel_size=3))
    clip = torch.randn(1, 3, 3, 64, 64)
    with torch.no_grad():
        outs = {}
        for mode in POSE_INPUTS:
            set_pose_input(model, mode)
            outs[mode] = _stream(model, clip)
            torch.testing.assert_close(model(clip), outs[mode], rtol=1e-4, atol=1e-5)  # forward agrees
    for mode in ("zero", "scramble"):
        torch.testing.assert_close(outs[mode][:, 0], outs["predicted"][:, 0])  # frame 1 is P's alone
        assert not torch.allclose(outs[mode][:, 1:], outs["predicted"][:, 1:])
    with pytest.raises(InputError, match="needs a DKD model"):
        set_pose_input(build_model("baseline_r18", 13, channels=16), "zero")
    with pytest.raises(InputError, match="pose input must be one of"):
        set_pose_input(model, "ground_truth")


@pytest.mark.parametrize("name", ENCODER_MODELS + ["dkd_r18"])
def test_every_batchnorm_keeps_running_statistics_at_the_same_momentum(name):
    """torchvision builds MobileNetV3 with momentum 0.01, whose running statistics still sit far from the
    batches' after the few hundred steps of a short schedule (a trained DKD(MobileNetV3) lost 30 validation
    points to it); every encoder uses 0.1."""
    model = build_model(name, K, channels=16)
    momenta = {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta <= {0.1} and (momenta or "smallcpm" in name)  # SmallCPM has no BatchNorm
