"""VOCASET / HDTF loaders, conversion into training pairs, and training a vertex model on them."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import soundfile as sf
import torch

from diface_editor.core.formats import load_animation
from diface_editor.core.formats.common import get_template
from diface_editor.ml.data import (
    VOCA_TEST,
    VOCA_TRAIN,
    convert_dataset,
    find_hdtf,
    find_vocaset,
    parse_sentences,
    parse_subjects,
)
from diface_editor.ml.data.vocaset import DatasetError
from tests._compat_helpers import write_fake_vocaset
from tests._ml_helpers import energy_features


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(n)


def test_vocaset_faceformer_layout_converts_to_30fps_offsets(tmp_path):
    fake = write_fake_vocaset(tmp_path / "voca")
    seqs = find_vocaset(tmp_path / "voca")
    assert len(seqs) == 6 and seqs[0].subject == "FaceTalk_170728_03272_TA" and seqs[0].sentence == 1
    rep = convert_dataset("vocaset", tmp_path / "voca", tmp_path / "pairs")
    assert len(rep.pairs) == 6 and len(rep.subjects) == 2
    name = "FaceTalk_170904_00128_TA_sentence02"
    anim = load_animation(tmp_path / "pairs" / f"{name}.npz")
    v60 = fake["vertices"][name]
    tmpl = fake["templates"]["FaceTalk_170904_00128_TA"]
    assert anim.fps == 30.0 and anim.space == "vertex" and anim.n_frames == math.ceil(len(v60) / 2)
    assert np.allclose(anim.face, v60[::2] - tmpl.reshape(1, -1), atol=1e-6)
    assert np.allclose(get_template(anim), tmpl, atol=1e-6)
    assert np.all(anim.head == 0) and anim.metadata["subject"] == "FaceTalk_170904_00128_TA"
    assert (tmp_path / "pairs" / f"{name}.wav").is_file()
    # filters: subjects and sentences
    only = find_vocaset(tmp_path / "voca", subjects=("FaceTalk_170904_00128_TA",), sentences={2, 3})
    assert [s.name for s in only] == ["FaceTalk_170904_00128_TA_sentence02", "FaceTalk_170904_00128_TA_sentence03"]


def test_split_and_sentence_parsing():
    assert parse_subjects("train") == VOCA_TRAIN and parse_subjects("all") is None
    assert parse_subjects("train,test") == VOCA_TRAIN + VOCA_TEST
    assert parse_subjects("A_B_C,train")[0] == "A_B_C"
    assert parse_sentences("1-3,7") == {1, 2, 3, 7} and parse_sentences(None) is None
    with pytest.raises(DatasetError):
        parse_sentences("one")


def test_wrong_layout_and_missing_templates_are_clear(tmp_path):
    with pytest.raises(DatasetError, match="wav/ is missing"):
        find_vocaset(tmp_path)
    write_fake_vocaset(tmp_path / "v")
    (tmp_path / "v" / "templates.pkl").unlink()
    with pytest.raises(DatasetError, match="templates.pkl is missing"):
        convert_dataset("vocaset", tmp_path / "v", tmp_path / "out")


def test_hdtf_tracked_sequences_keep_the_head_pose(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "HDTF"
    (root / "wav").mkdir(parents=True)
    (root / "metrical_tracker_dict").mkdir()
    temps = {}
    for i, T in enumerate((40, 55)):
        name = f"RD_Radio{i}_000"
        tmpl = rng.normal(size=(50, 3)) * 0.1
        temps[name] = tmpl
        verts = tmpl.reshape(1, 50, 3) + 0.002 * rng.normal(size=(T, 50, 3))
        pose = 0.1 * rng.normal(size=(T, 3))
        (root / "metrical_tracker_dict" / f"{name}.pkl").write_bytes(
            pickle.dumps({"vertice": verts.astype(np.float32), "global_pose": pose.astype(np.float32)}, protocol=2))
        sf.write(str(root / "wav" / f"{name}.wav"), np.zeros(16000, np.float32), 16000)
    (root / "templates.pkl").write_bytes(pickle.dumps(temps, protocol=2))
    seqs = find_hdtf(root)
    assert [s.name for s in seqs] == ["RD_Radio0_000", "RD_Radio1_000"]
    anim = seqs[1].load({k: v.astype(np.float32) for k, v in temps.items()})
    raw = pickle.loads((root / "metrical_tracker_dict" / "RD_Radio1_000.pkl").read_bytes())
    assert anim.n_frames == 55 and np.allclose(anim.head, raw["global_pose"])
    assert np.allclose(anim.face, raw["vertice"].reshape(55, -1) - temps["RD_Radio1_000"].reshape(1, -1), atol=1e-6)
    rep = convert_dataset("hdtf", root, tmp_path / "pairs")
    assert rep.frames == 95 and load_animation(tmp_path / "pairs" / "RD_Radio0_000.npz").head.shape == (40, 3)


def test_fake_vocaset_trains_a_vertex_model(tmp_path):
    """2 subjects x 3 sentences of 1-2 s on a 100-vertex template: convert, train a few steps, load, sample."""
    from diface_editor.cli.main import main
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.sampling import sample_window
    from diface_editor.ml.train import run_training, train_config_from_dict

    write_fake_vocaset(tmp_path / "voca")
    assert main(["convert-data", "vocaset", str(tmp_path / "voca"), "-o", str(tmp_path / "pairs"),
                 "--subjects", "FaceTalk_170728_03272_TA,FaceTalk_170904_00128_TA", "--sentences", "1-3"]) == 0
    cfg = train_config_from_dict({
        "data": {"dir": str(tmp_path / "pairs"), "window_seconds": 1.0, "val_fraction": 0.2},
        "face": {"ch": 8, "ch_mult": [1, 2]}, "head": {"enabled": False},
        "train": {"steps": 3, "batch_size": 2, "ema_decay": 0.0, "log_every": 1, "ckpt_every": 10, "val_every": 3},
        "output": {"run_dir": str(tmp_path / "run"), "bundle": str(tmp_path / "model")}}, tmp_path)
    res = run_training(cfg, feature_fn=energy_features, progress=False)
    assert res.steps == 3 and math.isfinite(res.train_loss) and res.val_loss is not None
    m = MotionModel.load(res.bundle, device="cpu")
    assert m.motion_space == "vertex" and m.part("face").n_channels == 300
    out = sample_window(m.part("face"), np.zeros((30, 2), np.float32), np.zeros((30, 300), np.float32),
                        np.zeros((30, 300), bool), sampler="ddim", steps=2)
    assert out.shape == (1, 30, 300) and np.isfinite(out).all()
