"""The distilled one-step student (#14): ``diface distill`` on a tiny model and corpus, the bundle that
carries it, the ``student`` sampler, and keyframe drags that use it.

What users rely on: a drag with the student is one network call, keys are still hit, frames outside
the edit stay bit for bit, a model without a student still drags (with its own sampler), the run
resumes after a stop, and the student learns the teacher's result from the same noise.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests._engine_fakes import tiny_model, write_speech
from tests._ml_helpers import write_pairs

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    from diface_editor.ml.distill import DistillConfig, run_distillation

    root = tmp_path_factory.mktemp("distill")
    teacher = tiny_model().save(root / "teacher")
    data = write_pairs(root / "data", n=4)
    cfg = DistillConfig(model=teacher, data=data, out=root / "run", steps=4, batch_size=4, lr=1e-3,
                        ckpt_every=2, window_s=1.0)
    bundle = run_distillation(cfg)
    return root, cfg, bundle


def test_distill_writes_a_bundle_with_students_that_resumes(distilled):
    from diface_editor.engine.loading import has_student_at
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.distill import run_distillation

    root, cfg, bundle = distilled
    model = MotionModel.load(bundle, device="cpu")
    for p in ("face", "head"):
        assert model.part(p).student is not None
        info = model.part(p).student_info
        assert info["teacher"]["sampler"] == "dpmpp" and info["t"] == 19
    assert has_student_at(bundle) and not has_student_at(root / "teacher")
    lines = [json.loads(x) for x in (root / "run" / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4]
    # a stop after step 4: --resume continues at step 5
    from dataclasses import replace

    run_distillation(replace(cfg, steps=6), resume=True)
    lines = [json.loads(x) for x in (root / "run" / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines][-2:] == [5, 6]
    assert json.loads((root / "run" / "checkpoint.json").read_text())["step"] == 6


def test_student_learns_the_teachers_result_from_the_same_noise(tmp_path):
    """A few dozen steps on one fixed window bring the one-call student much closer to the teacher's
    10-call result than the teacher's own first call is."""
    from diface_editor.ml.distill import DistillConfig, _Data, _loss, _student_x0
    from diface_editor.ml.sampling import sample

    teacher = tiny_model()
    path = teacher.save(tmp_path / "t")
    data = _Data(teacher, write_pairs(tmp_path / "d", n=2), 32)
    b = data.batch(np.random.default_rng(0), 4)
    part = teacher.part("face")
    known, mask = b["face"]
    known = torch.where(mask, known, torch.zeros(()))
    g = torch.Generator().manual_seed(3)
    x_t = part.diffusion.sample_noise(tuple(known.shape), g)
    with torch.no_grad():
        target = sample(part, known, mask, b["audio"], sampler="dpmpp", steps=10, generator=torch.Generator().manual_seed(3))
        before = _student_x0(part, part.denoiser, x_t, known, mask, b["audio"], 19)
    from diface_editor.ml.denoiser import Denoiser

    student = Denoiser(part.denoiser.config)
    student.load_state_dict(part.denoiser.state_dict())
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        loss, _ = _loss(_student_x0(part, student, x_t, known, mask, b["audio"], 19), target, mask, 0.0)
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = _student_x0(part, student, x_t, known, mask, b["audio"], 19)
    err = lambda x: float(((x - target) ** 2)[~mask].mean())  # noqa: E731
    assert err(after) < 0.25 * err(before)
    assert torch.equal(after[mask], known[mask])  # known entries exact
    assert DistillConfig(model=path, data=tmp_path, out=tmp_path).steps > 0


def test_student_sampler_is_one_call_and_keeps_known_entries(distilled):
    from diface_editor.ml.bundle import MotionModel
    from diface_editor.ml.sampling import SamplingError, sample_window

    _, _, bundle = distilled
    model = MotionModel.load(bundle, device="cpu")
    part = model.part("face")
    calls = []
    hook = part.student.register_forward_hook(lambda *a: calls.append(1))
    known = np.zeros((40, 52), np.float32)
    mask = np.zeros((40, 52), bool)
    known[10, :], mask[10, :] = 0.7, True
    out = sample_window(part, np.zeros((40, 8), np.float32), known, mask, sampler="student", guidance=1.5)
    hook.remove()
    assert len(calls) == 1 and out.shape == (1, 40, 52)
    assert np.array_equal(out[0, 10], known[10])
    with pytest.raises(SamplingError, match="no distilled student"):
        sample_window(tiny_model().part("face"), np.zeros((40, 8), np.float32), known, mask, sampler="student")


def test_drags_use_the_student_hit_keys_and_keep_the_rest(distilled, tmp_path):
    from diface_editor.core.audio import AudioClip
    from diface_editor.core.document import Document, SamplerSettings
    from diface_editor.core.keyframes import Keyframe, KeyframeSet
    from diface_editor.engine.session import EditOptions, EditSession
    from diface_editor.engine.worker import Engine
    from diface_editor.ml.bundle import MotionModel

    _, _, bundle = distilled
    write_speech(tmp_path / "s.wav", seconds=3.0)
    clip = AudioClip.load(tmp_path / "s.wav")
    for has in (True, False):
        model = MotionModel.load(bundle, device="cpu") if has else tiny_model()
        engine = Engine(model)
        doc = Document(None, audio=clip, sampler=SamplerSettings(blinks=False))
        base = engine.run_sync(EditSession(doc).generate_request()).animation
        doc = Document(base, audio=clip, keyframes=KeyframeSet([Keyframe(45, "head", values=(0.1, -0.05, 0.02))]),
                       sampler=SamplerSettings(blinks=False, influence_frames=10))
        session = EditSession(doc, options=EditOptions(interactive_steps=2, drag_student=True))
        req = session.solve_request(list(doc.keyframes))
        assert req.sampler == "student"
        res = engine.run_sync(req)
        a = res.animation
        assert res.info["sampler"] == ("student" if has else "dpmpp") and res.info["steps"] == (1 if has else 2)
        np.testing.assert_allclose(a.head[45], (0.1, -0.05, 0.02), atol=1e-5)
        np.testing.assert_array_equal(a.head[:35], base.head[:35])
        np.testing.assert_array_equal(a.head[56:], base.head[56:])
        np.testing.assert_array_equal(a.face, base.face)
