import pytest

from dkdpose.config import check_same_config, from_dict, load_config, same_config, save_config
from dkdpose.errors import InputError


def test_defaults_follow_the_paper():
    cfg = from_dict({})
    assert cfg.train.lr == 5e-4 and cfg.train.lr_milestones == [15, 25] and cfg.train.epochs == 40
    assert cfg.train.eta == 0.1 and cfg.train.gamma == 0.1 and cfg.train.optimizer == "rmsprop"
    assert cfg.data.clip_length == 5 and cfg.data.input_size == 256
    # S scales with the heatmap: the paper's S = 7 at its 256-px input (32x32 heatmaps)
    assert cfg.model.kernel_size == 0 and cfg.model_kwargs()["kernel_size"] == 7


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  root: /x\n  input_size: 128\ntrain:\n  lr: 1\n")
    cfg = load_config(path, ["train.epochs=3", "data.root=/y", "train.lr_milestones=[1, 2]"])
    assert cfg.data.root == "/y" and cfg.data.input_size == 128 and cfg.train.epochs == 3
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float) and cfg.train.lr_milestones == [1, 2]


def test_same_config_fills_keys_added_since_a_checkpoint_was_saved():
    cfg = from_dict({"train": {"variant": "no_tat", "epochs": 2}})
    saved = cfg.to_dict()
    del saved["train"]["warmup_steps"]  # a checkpoint written before the key existed
    assert same_config(saved, cfg)
    assert not same_config({**saved, "train": {**saved["train"], "epochs": 3}}, cfg)
    assert not same_config({"train": {"removed_key": 1}}, cfg) and not same_config(None, cfg)


def test_a_stage1_checkpoint_named_relative_or_absolute_is_the_same_config(tmp_path, monkeypatch):
    """A run folder addressed by `--out runs/abl` or by its absolute path is one run (not retrained)."""
    monkeypatch.chdir(tmp_path)
    relative = from_dict({"model": {"init_initializer": "runs/abl/pretrain/last.pt"}})
    absolute = from_dict({"model": {"init_initializer": str(tmp_path / "runs/abl/pretrain/last.pt")}})
    other = from_dict({"model": {"init_initializer": str(tmp_path / "runs/other/pretrain/last.pt")}})
    assert same_config(relative.to_dict(), absolute) and same_config(absolute.to_dict(), relative)
    check_same_config(relative.to_dict(), absolute, "last.pt")  # --resume accepts it too
    assert not same_config(relative.to_dict(), other)
    with pytest.raises(InputError, match="model.init_initializer"):
        check_same_config(relative.to_dict(), other, "last.pt")


def test_round_trip(tmp_path):
    cfg = from_dict({"train": {"variant": "no_tat", "epochs": 2}})
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


@pytest.mark.parametrize(
    "d, words",
    [
        ({"train": {"epochs": 1, "nope": 3}}, "unknown key train.nope"),
        ({"trian": {"epochs": 1}}, "unknown section 'trian'"),
        ({"train": {"epochs": "three"}}, "train.epochs: expected int"),
        ({"train": {"variant": "dkd2"}}, "train.variant 'dkd2'"),
        ({"data": {"input_size": 100}}, "multiple of 8"),
        ({"data": {"clip_length": 1}}, "clip_length >= 2"),
        ({"train": "fast"}, "must be a mapping"),
        ({"train": {"warmup_steps": -1}}, "warmup_steps must be >= 0"),
        ({"train": {"variant": "baseline"}}, "needs a baseline\\* model.name"),
        ({"train": {"variant": "lstm_pm"}, "model": {"name": "dkd_r18"}}, "needs a lstm_pm\\* model.name"),
    ],
)
def test_refusals_name_the_key(d, words):
    with pytest.raises(InputError, match=words):
        from_dict(d, "c.yaml")


def test_bad_override_and_missing_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {epochs: 1}\n")
    with pytest.raises(InputError, match="section.key=value"):
        load_config(path, ["epochs=2"])
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("train: [1, \n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_kernel_size_is_odd_or_zero_for_scaled():
    assert from_dict({"model": {"kernel_size": 0}}).model.kernel_size == 0
    assert from_dict({"model": {"kernel_size": 5}}).model.kernel_size == 5
    with pytest.raises(InputError, match="odd or 0"):
        from_dict({"model": {"kernel_size": 4}})
