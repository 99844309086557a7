"""The engine on two devices: the same requests on the CPU and on CUDA, their differences and timings.

    python tools/cuda_check.py [--model models/default] [--audio resources/demo/demo.wav]
                               [--words demo.words.json] [--repeats 5] [--devices cuda,cpu]

Prints one JSON object. Per device: median wall time (ms) of each request kind, and the checks that
must hold on every device (strength 0 equals the audio-only result bit for bit, a keyframe solve
hits its key and leaves every frame outside its window bit-identical, a range resample keeps the
frames outside the range). Across devices: the largest difference of the results (face weights,
0..1; head rotation in degrees), which should be float round-off, not different motion, because
all noise comes from a seeded CPU ``torch.Generator`` on every device.

Requests: generate (the model's recommended sampler), generate with the transcript's phones
(viseme pins; ``--words``, a ``NAME.words.json`` sidecar of ``diface generate --text-file``, else
the audio's ``.txt`` aligned when pocketsphinx is installed, else skipped), the editor's drag (a
head keyframe solved by the one-step student), a face keyframe solved by the sampler, a 2 s range
resample and 4 variants of it. For a GPU that is lent for minutes: everything runs in one process.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("cuda_check")


def _transcript(args, clip):
    """The aligned transcript of ``--words``, else the audio's ``.txt`` aligned as the editor does,
    else ``None`` (the pinned rows are then skipped)."""
    from diface_editor.core.formats.transcript_files import read_words_json
    from diface_editor.engine.edit_policy import align_transcript

    if args.words:
        return read_words_json(args.words)
    txt = Path(args.audio).with_suffix(".txt")
    if not txt.is_file():
        return None
    tr = align_transcript(clip, txt.read_text())
    if not tr.aligned:
        log.warning("no alignment: %s", tr.error)
    return tr


def run_device(device: str, args, clip, transcript) -> dict:
    """Every request on ``device``: ``{"results": {name: Animation}, "ms": {...}, "checks": {...}}``."""
    import torch

    from diface_editor.core.document import Document, SamplerSettings
    from diface_editor.core.keyframes import Keyframe, KeyframeSet
    from diface_editor.engine.loading import load_model
    from diface_editor.engine.requests import GenerateRequest
    from diface_editor.engine.session import EditOptions, EditSession
    from diface_editor.engine.worker import Engine
    from diface_editor.ml.audio import FeatureCache

    bundle = load_model(args.model, device=device)
    engine = Engine(bundle, previews=False)
    rec = dict(bundle.sampling or {})
    samp = dict(sampler=str(rec.get("sampler", "dpmpp")), steps=rec.get("steps"),
                guidance=float(rec.get("guidance", 1.0)))
    n = int(round(clip.duration * bundle.fps))
    # the audio encoder on this device, with a cache of its own (features computed here, not reused)
    enc = bundle.build_audio_encoder(cache=FeatureCache())
    t0 = time.perf_counter()
    feats = enc.features(clip, n, bundle.fps)
    out: dict = {"device": str(bundle.device), "features_ms": round((time.perf_counter() - t0) * 1000, 1),
                 "torch": torch.__version__}
    t0 = time.perf_counter()
    engine.features(clip, n)  # the engine's own path (the process-wide cache: computed by the first device)
    out["engine_features_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    if bundle.device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(bundle.device)
        out["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
        out["tf32_cudnn"] = bool(torch.backends.cudnn.allow_tf32)
    results: dict = {}
    ms: dict = {}
    checks: dict = {}

    def timed(name, make):
        """Median ms of ``run_sync(make())`` over the repeats, after one untimed warm-up."""
        res = engine.run_sync(make())
        xs = []
        for _ in range(args.repeats):
            if bundle.device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            res = engine.run_sync(make())
            xs.append((time.perf_counter() - t) * 1000)
        ms[name] = round(statistics.median(xs), 1)
        results[name] = res
        return res

    try:
        gen = timed("generate", lambda: GenerateRequest(clip, seed=0, **samp)).animation
        phones = tuple(transcript.phones) if transcript is not None and transcript.phones else None
        if phones:
            pinned = timed("generate_pinned", lambda: GenerateRequest(clip, seed=0, phones=phones, **samp))
            zero = engine.run_sync(GenerateRequest(clip, seed=0, phones=phones, viseme_strength=0.0, **samp))
            checks["strength0_equals_audio_only"] = bool(
                np.array_equal(zero.animation.face, gen.face) and np.array_equal(zero.animation.head, gen.head))
            from diface_editor.engine.visemes import viseme_pins

            mask, values = viseme_pins(phones, len(gen.face), bundle.fps, bundle.face_channels,
                                       samples=clip.samples, sample_rate=clip.sample_rate)
            checks["pinned_cells"] = int(mask.sum())
            checks["pinned_values_max_err"] = float(np.abs(pinned.animation.face[mask] - values[mask]).max())
        settings = SamplerSettings(sampler=samp["sampler"], steps=samp["steps"], guidance=samp["guidance"],
                                   seed=7, blinks=False)
        nf = len(gen.face)
        f = nf // 2
        head_key = Keyframe(f, "head", values=(0.15, -0.1, 0.05))
        doc = Document(gen, audio=clip, keyframes=KeyframeSet([head_key]), sampler=settings, transcript=transcript)
        drag = EditSession(doc, options=EditOptions(drag_student=True))
        res = timed("drag_head_key_student", lambda: drag.solve_request([head_key])).animation
        lo, hi = max(0, f - settings.influence_frames), f + settings.influence_frames + 1
        checks["drag_key_hit_max_err"] = float(np.abs(res.head[f] - np.asarray(head_key.values)).max())
        checks["drag_outside_identical"] = bool(
            np.array_equal(res.face, gen.face) and np.array_equal(res.head[:lo], gen.head[:lo])
            and np.array_equal(res.head[hi:], gen.head[hi:]))
        jaw = bundle.face_channels.index("jawOpen")
        fv = np.array(gen.face[f], np.float64)
        fv[jaw] = 0.6
        face_key = Keyframe(f, "face", values=tuple(float(v) for v in fv))
        doc_f = Document(gen, audio=clip, keyframes=KeyframeSet([face_key]), sampler=settings, transcript=transcript)
        solve = EditSession(doc_f)
        res = timed("solve_face_key_sampler", lambda: solve.solve_request([face_key])).animation
        checks["face_key_hit_max_err"] = float(np.abs(res.face[f] - fv).max())
        a, b = nf // 3, nf // 3 + int(round(2 * bundle.fps))
        doc_r = Document(gen, audio=clip, sampler=settings, transcript=transcript)
        rs = EditSession(doc_r)
        res = timed("range_resample_2s", lambda: rs.range_request((a, b))).animation
        checks["range_outside_identical"] = bool(
            np.array_equal(res.face[:a], gen.face[:a]) and np.array_equal(res.face[b:], gen.face[b:])
            and np.array_equal(res.head[:a], gen.head[:a]) and np.array_equal(res.head[b:], gen.head[b:]))
        timed("variants_4_of_2s", lambda: rs.variants_request((a, b), n=4))
    finally:
        engine.shutdown(timeout=30)
    out["ms"] = ms
    out["checks"] = checks
    out["results"] = results
    out["features"] = feats
    return out


def _animations(res) -> list:
    """The animations of a result (one, or the candidates of variants)."""
    anims = getattr(res, "animations", None)
    if anims:
        return list(anims)
    return [res.animation]


def compare(a: dict, b: dict) -> dict:
    """Largest face-weight and head-angle (degrees) difference of each request between two devices."""
    out = {}
    for name, ra in a["results"].items():
        rb = b["results"].get(name)
        if rb is None:
            continue
        face = head = 0.0
        for x, y in zip(_animations(ra), _animations(rb)):
            face = max(face, float(np.abs(np.asarray(x.face, np.float64) - np.asarray(y.face, np.float64)).max()))
            head = max(head, float(np.degrees(np.abs(np.asarray(x.head, np.float64)
                                                     - np.asarray(y.head, np.float64)).max())))
        out[name] = {"face_max_abs": face, "head_max_deg": head}
    fa, fb = a["features"], b["features"]
    out["audio_features"] = {"max_abs": float(np.abs(fa - fb).max()), "feature_std": float(fa.std())}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(ROOT / "models" / "default"))
    p.add_argument("--audio", default=str(ROOT / "resources" / "demo" / "demo.wav"))
    p.add_argument("--words", default=None, help="NAME.words.json with the aligned phones")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--devices", default="cuda,cpu",
                   help="in this order; the first computes the engine's cached audio features")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import torch

    from diface_editor.core.audio import AudioClip

    if args.threads:
        torch.set_num_threads(args.threads)
    clip = AudioClip.load(args.audio)
    transcript = _transcript(args, clip)
    runs = {}
    for dev in args.devices.split(","):
        if dev == "cuda" and not torch.cuda.is_available():
            runs[dev] = {"error": "torch sees no CUDA device"}
            continue
        runs[dev] = run_device(dev, args, clip, transcript)
    report = {"audio": str(args.audio), "seconds": round(clip.duration, 2),
              "phones": len(transcript.phones) if transcript is not None and transcript.phones else 0,
              "threads": torch.get_num_threads()}
    names = [d for d in runs if "results" in runs[d]]
    if len(names) == 2:
        report["difference"] = compare(runs[names[0]], runs[names[1]])
        a, b = names
        report[f"ms_{b}_over_{a}"] = {k: round(runs[b]["ms"][k] / runs[a]["ms"][k], 2)
                                      for k in runs[a]["ms"] if k in runs[b]["ms"]}
    for d, r in runs.items():
        r.pop("results", None)
        r.pop("features", None)
        report[d] = r
    print(json.dumps(report, indent=1))
    ok = all(v is True or (isinstance(v, float) and v < 1e-3) or not isinstance(v, (bool, float))
             for r in runs.values() for v in r.get("checks", {}).values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
