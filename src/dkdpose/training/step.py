"""One training iteration: Algorithm 1 of the paper (`gan_step`), the generator and D updated in turn.

The discriminator D reconstructs the change of the heatmaps between two frames (temporal, Eqn. 3) or the
heatmaps of one frame (spatial, the `sat` ablation); `discriminator_pairs` gives what it reconstructs and
what it should. The losses are in `losses.py`, λ's update (Eqn. 7) too.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dkdpose.config import RunConfig
from dkdpose.training.losses import heatmap_change, is_finite, pose_l2, reconstruction_l2, update_lambda
from dkdpose.training.runtime import Dist, average_gradients


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite: the run stops rather than writing a poisoned checkpoint."""


def discriminator_pairs(disc: nn.Module, kind: str, images: Tensor, heat: Tensor) -> tuple[Tensor, Tensor]:
    """Run D over a clip and return (reconstruction, what it should reconstruct).

    temporal: D(I_t, h_t, I_{t+1}, h_{t+1}) -> d_t = h_{t+1} - h_t, for t = 1..T-1.
    spatial:  D(I_t, h_t) -> h_t, for t = 1..T.
    images (B, T, 3, H, W), heat (B, T, K, h, w) -> two (B, N, K, h, w) tensors.
    """
    b, t = heat.shape[:2]
    if kind == "temporal":
        i0, i1 = images[:, :-1].flatten(0, 1), images[:, 1:].flatten(0, 1)
        h0, h1 = heat[:, :-1].flatten(0, 1), heat[:, 1:].flatten(0, 1)
        return disc(i0, h0, i1, h1).unflatten(0, (b, t - 1)), heatmap_change(heat)
    rec = disc(images.flatten(0, 1), heat.flatten(0, 1)).unflatten(0, (b, t))
    return rec, heat

def discriminate(
    disc: nn.Module, kind: str, images: Tensor, heat: Tensor, target: Tensor, joint: bool
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """D on the predicted (fake) and ground-truth (real) heatmaps: ((rec_f, d_f), (rec_r, d_r)).

    joint=True runs both through D as one batch, so D's BatchNorm normalises real and fake pairs with the same
    statistics (two passes give each its own batch statistics, which D can use to tell them apart).
    """
    if not joint:
        return discriminator_pairs(disc, kind, images, heat), discriminator_pairs(disc, kind, images, target)
    both = torch.cat([heat, target.to(heat.dtype)], dim=0)  # (2B, T, K, h, w)
    rec, d = discriminator_pairs(disc, kind, torch.cat([images, images], dim=0), both)
    (rec_f, rec_r), (d_f, d_r) = rec.chunk(2, dim=0), d.chunk(2, dim=0)
    return (rec_f, d_f), (rec_r, d_r)


def generate(gen: nn.Module, images: Tensor, target: Tensor, first_pose: str) -> Tensor:
    """The generator on a clip (B, T, 3, H, W) -> (B, T, K, h, w). first_pose "ground_truth" (a diagnostic,
    DKD only) starts the stream from the true h_1 (`target[:, 0]`) instead of P's: Φ is trained on a first
    pose that is always right, and P, not run, keeps its stage-1 weights."""
    if first_pose == "ground_truth":
        return gen(images, first_heatmaps=target[:, 0].to(images.dtype))
    return gen(images)


def gan_step(
    gen: nn.Module, disc: nn.Module | None, kind: str | None, batch: dict, opt_g, opt_d, lam: float,
    cfg: RunConfig, scaler=None, autocast=None, dd: Dist | None = None,
) -> dict:  # fmt: skip
    """One iteration of Algorithm 1; returns the scalar losses and the new λ.

    L_G = Σ_t ℓ2(h_t, ĥ_t) + η Σ_t ℓ2(d^f_t, d_t) updates the generator (P, F, Φ) with D frozen;
    D minimizes Σ ℓ2(d^r, d̂) − λ Σ ℓ2(d^f, d) (maximizes L_D, Eqn. 4) on the same predictions, detached.
    Both use D as it was before this step, as in Algorithm 1. The two backward passes are restricted to their
    own parameters (`inputs=`), which is exactly "detached predictions for D, D frozen for G" without a second
    forward pass. Then λ follows Eqn. 7.
    """
    images, target, weight = batch["image"], batch["heatmaps"], batch["target_weight"]
    with autocast():
        heat = generate(gen, images, target, cfg.train.first_pose)  # (B, T, K, h, w)
        loss_pose = pose_l2(heat.float(), target, weight)
        if disc is None:
            loss_g, out = loss_pose, {}
        else:
            joint = cfg.train.joint_discriminator_batch
            (rec_f, d_f), (rec_r, d_r) = discriminate(disc, kind, images, heat, target, joint)
            l2_fake = reconstruction_l2(rec_f.float(), d_f.float())
            l2_real = reconstruction_l2(rec_r.float(), d_r.float())
            loss_g = loss_pose + cfg.train.eta * l2_fake
            loss_d = l2_real - lam * l2_fake
            out = {"loss_d": loss_d, "l2_real": l2_real, "l2_fake": l2_fake}
    if not is_finite(loss_g, *out.values()):
        raise NonFiniteLoss(f"non-finite loss (loss_g={loss_g.item()}); stopping the run")
    scale = scaler.scale if scaler is not None else (lambda x: x)
    opt_g.zero_grad(set_to_none=True)
    if disc is not None:
        opt_d.zero_grad(set_to_none=True)
        scale(out["loss_d"]).backward(
            inputs=[p for p in disc.parameters() if p.requires_grad], retain_graph=True
        )
        if dd is not None and dd.world > 1:
            average_gradients(disc, dd.world)
    scale(loss_g).backward(inputs=[p for p in gen.parameters() if p.requires_grad])
    for opt in (opt_d, opt_g) if disc is not None else (opt_g,):
        if scaler is not None:
            scaler.step(opt)
        else:
            opt.step()
    if scaler is not None:
        scaler.update()
    result = {"loss_g": loss_g.item(), "loss_pose": loss_pose.item(), "lambda": lam}
    if disc is not None:
        result.update({k: v.item() for k, v in out.items()})
        result["lambda"] = update_lambda(lam, result["l2_real"], result["l2_fake"], cfg.train.gamma)
    return result
