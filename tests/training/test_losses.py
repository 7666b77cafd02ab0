import torch

from dkdpose.training.losses import heatmap_change, pose_l2, reconstruction_l2, update_lambda


def test_pose_l2_masks_unlabelled_joints_and_sums_over_time():
    pred = torch.zeros(1, 2, 2, 4, 4)
    target = torch.ones(1, 2, 2, 4, 4)
    weight = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    # frame 1: one of two joints counts -> mean 0.5; frame 2: both -> 1.0; summed over time
    assert torch.isclose(pose_l2(pred, target, weight), torch.tensor(1.5))


def test_heatmap_change_and_reconstruction():
    h = torch.arange(3.0).view(1, 3, 1, 1, 1).expand(1, 3, 1, 2, 2)
    d = heatmap_change(h)
    assert d.shape == (1, 2, 1, 2, 2) and torch.all(d == 1)
    assert reconstruction_l2(d, torch.zeros_like(d)) == 2.0  # 1 per pair, summed over the 2 pairs


def test_lambda_follows_eqn7_and_stays_in_unit_interval():
    assert update_lambda(0.0, real_l2=0.5, fake_l2=0.2, gamma=0.1) == 0.1 * 0.3 + 0.0
    assert update_lambda(0.5, real_l2=0.1, fake_l2=0.3, gamma=0.1) == 0.5 - 0.1 * 0.2
    assert update_lambda(0.0, real_l2=0.1, fake_l2=0.9, gamma=0.1) == 0.0  # clipped below
    assert update_lambda(0.99, real_l2=5.0, fake_l2=0.0, gamma=0.1) == 1.0  # clipped above
    lam = 0.0
    for real, fake in [(1.0, 0.0)] * 20 + [(0.0, 2.0)] * 20:
        lam = update_lambda(lam, real, fake, 0.1)
        assert 0.0 <= lam <= 1.0
