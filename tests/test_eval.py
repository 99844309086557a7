"""Evaluation metrics (hand-made cases with known answers) and ``diface eval`` on a tiny model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diface_editor.bench.evaluate import CLOSED_GAP_MM, RigGeometry, closure_share, open_share  # noqa: E402
from diface_editor.engine import metrics as M  # noqa: E402


def _verts(T=10, V=6, seed=0):
    return np.random.default_rng(seed).normal(0, 0.01, (T, V, 3))


def test_identical_motion_scores_zero():
    v = _verts()
    tmpl = v[0]
    assert M.lip_vertex_error(v, v, np.arange(3)) == {"l2": 0.0, "sq": 0.0}
    assert M.mean_vertex_error(v, v) == 0.0
    assert M.face_dynamics_deviation(v, v, tmpl, np.arange(6)) == {"sq": 0.0, "norm": 0.0}


def test_lve_is_the_max_over_lip_vertices_in_mm():
    gt = _verts()
    pred = gt.copy()
    pred[:, 0] += [0.0, 0.003, 0.004]       # 5 mm on lip vertex 0
    pred[:, 1] += [0.001, 0.0, 0.0]         # 1 mm on lip vertex 1 (not the max)
    pred[:, 5] += [0.05, 0.0, 0.0]          # 50 mm on a non-lip vertex: ignored by LVE
    lve = M.lip_vertex_error(pred, gt, np.array([0, 1, 2]))
    assert lve["l2"] == pytest.approx(5.0)
    assert lve["sq"] == pytest.approx(25.0)
    # the error only on half the frames: mean over frames
    pred2 = gt.copy()
    pred2[:5, 2] += [0.0, 0.0, 0.002]
    assert M.lip_vertex_error(pred2, gt, np.array([0, 1, 2]))["l2"] == pytest.approx(1.0)
    assert M.lip_vertex_error(pred2, gt, np.array([0, 1, 2]))["sq"] == pytest.approx(2.0)


def test_mve_averages_over_vertices_and_frames():
    gt = _verts(V=4)
    pred = gt.copy()
    pred[:, :2] += [0.002, 0.0, 0.0]
    assert M.mean_vertex_error(pred, gt) == pytest.approx(1.0)
    assert M.mean_vertex_error(pred, gt, np.array([0, 1])) == pytest.approx(2.0)


def test_fdd_codetalker_definition():
    T, V = 40, 3
    tmpl = np.zeros((V, 3))
    gt = np.zeros((T, V, 3))                 # a still upper face
    pred = np.zeros((T, V, 3))
    pred[::2, :, 1] = 0.002                  # displacement norm alternates 2 mm / 0 mm
    fdd = M.face_dynamics_deviation(pred, gt, tmpl, np.arange(V))
    assert fdd["sq"] == pytest.approx(-2.0)  # std of {4, 0} mm² is 2; GT minus prediction
    assert fdd["norm"] == pytest.approx(-1.0)
    assert M.face_dynamics_deviation(gt, pred, tmpl, np.arange(V))["sq"] == pytest.approx(2.0)
    # a constant offset (no dynamics) does not count
    assert M.face_dynamics_deviation(gt + 0.005, gt, tmpl, np.arange(V))["sq"] == pytest.approx(0.0)


def test_diversity_face_and_head():
    v = _verts()
    s = np.stack([v, v + [0.001, 0, 0], v + [0.002, 0, 0]])
    assert M.face_diversity(s) == pytest.approx((1 + 2 + 1) / 3)
    assert M.face_diversity(s[:1]) == 0.0
    T = 7
    a = np.zeros((T, 3))
    b = np.tile([0.0, np.radians(10.0), 0.0], (T, 1))
    assert M.head_diversity(np.stack([a, b])) == pytest.approx(10.0, abs=1e-6)
    assert M.head_diversity(np.stack([a, a])) == pytest.approx(0.0, abs=1e-6)


def test_beat_alignment_and_beats():
    beats = np.array([0.5, 1.0, 1.5])
    assert M.beat_alignment(beats, beats) == pytest.approx(1.0)
    assert M.beat_alignment(beats, beats + 0.1, sigma_s=0.1) == pytest.approx(np.exp(-0.5))
    assert M.beat_alignment(beats, np.zeros(0)) == 0.0
    assert M.beat_alignment(np.zeros(0), beats) is None
    fps = 30.0
    t = np.arange(90) / fps
    yaw = 0.1 * np.sin(2 * np.pi * 1.0 * t)          # stops at the turning points: t = 0.25, 0.75, ...
    head = np.stack([np.zeros_like(t), yaw, np.zeros_like(t)], 1)
    hb = M.head_beats(head, fps)
    assert np.allclose(hb, [0.25, 0.75, 1.25, 1.75, 2.25, 2.75][:len(hb)], atol=1.5 / fps) and len(hb) >= 5
    assert M.head_beats(np.zeros((60, 3)), fps).size == 0
    sr = 16000
    x = np.zeros(sr * 2)
    rng = np.random.default_rng(0)
    for c in (0.3, 0.9, 1.5):                         # noise bursts
        a = int(c * sr)
        x[a:a + 2400] = rng.normal(0, 0.3, 2400)
    on = M.audio_onsets(x, sr)
    for c in (0.3, 0.9, 1.5):
        assert np.min(np.abs(on - c)) < 0.03


def test_lip_gap_and_closure_on_the_default_rig():
    geo = RigGeometry.default()
    K = len(geo.rig.blendshape_names)
    rest = np.zeros((1, K), np.float32)
    open_ = rest.copy()
    open_[0, geo.rig.shape_index("jawOpen")] = 0.5
    assert geo.lip_gap_mm(rest)[0] < CLOSED_GAP_MM
    assert geo.lip_gap_mm(open_)[0] > 10.0
    # closure: a p that closes and an m that does not
    fps = 30.0
    gap = np.full(30, 8.0)
    gap[5:8] = 0.2
    phones = [("sil", 0.0, 0.1), ("P", 0.15, 0.25), ("AA1", 0.25, 0.5), ("M", 0.6, 0.7), ("sil", 0.7, 1.0)]
    share, n = closure_share(gap, phones, fps)
    assert n == 2 and share == pytest.approx(0.5)
    assert closure_share(gap, [("AA", 0.0, 1.0)], fps) == (None, 0)
    # openness on open vowels: the AA (frames 7..15) opens to 8 mm; a shut mouth would not
    assert open_share(gap, phones, fps) == (1.0, 1)
    assert open_share(np.zeros(30), phones, fps) == (0.0, 1)


def test_vertex_subset_matches_full_deform():
    geo = RigGeometry.default()
    w = np.random.default_rng(1).uniform(0, 1, (3, len(geo.rig.blendshape_names))).astype(np.float32)
    full = geo.rig.deform(w)
    assert np.allclose(geo.verts(w, geo.lip_idx), full[:, geo.lip_idx], atol=1e-6)


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    from _engine_fakes import tiny_model
    from _ml_helpers import write_pairs

    d = tmp_path_factory.mktemp("eval")
    tiny_model(train_steps=8).save(d / "model")
    write_pairs(d / "data" / "test", n=2, seed=3)
    return d


def test_eval_cli_json_keys(tiny_setup, capsys):
    from diface_editor.cli.main import main

    d = tiny_setup
    out = d / "eval.json"
    rc = main(["eval", "--model", str(d / "model"), "--data", str(d / "data"), "--json", "--ddpm-clips", "1",
               "--diversity-clips", "1", "--diversity-samples", "2", "--sweep", "dpmpp:2", "--threads", "1",
               "-o", str(out)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res == json.loads(out.read_text())
    for key in ("lve_mm", "lve_sq_mm2", "mve_mm", "lve_ddpm1000_mm", "lve_static_mm", "fdd", "diversity",
                "diversity_head_deg", "ba", "ba_gt", "rtf"):
        assert key in res
    assert res["clips"] == 2 and res["ddpm1000_clips"] == 1
    assert res["lve_mm"] > 0 and res["lve_static_mm"] > 0 and res["diversity"] > 0
    assert res["methods"]["model"]["clips"] == 2 and res["methods"]["static"]["clips"] == 2
    assert res["sweep"][0]["sampler"] == "dpmpp" and res["sweep"][0]["steps"] == 2
    assert "teacher_align" not in res["methods"]  # no transcripts without a manifest


def test_eval_cli_refuses_a_missing_folder(tiny_setup, capsys):
    from diface_editor.cli.main import main

    assert main(["eval", "--model", str(tiny_setup / "model"), "--data", str(tiny_setup / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err
