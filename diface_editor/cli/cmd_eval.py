"""``diface eval --model M --data DIR [--json]``: measure a model on a held-out corpus split.

Lip vertex error (LVE, mm and FaceFormer's squared mm²), mean vertex error (MVE), CodeTalker's
upper-face dynamics deviation (FDD), sample diversity and head beat alignment, on the default rig's
vertices, for the model with its recommended sampler (every clip) and with the 1000-step DDPM
sampler (a subset: ``--ddpm-clips``), next to a static mean-pose baseline and the procedural
teacher driven by a pocketsphinx alignment of the transcript (``manifest.json`` of a
``diface corpus build`` folder). See :mod:`diface_editor.bench.evaluate` for the definitions.

Examples::

    diface eval --data data/synth --json
    diface eval --model runs/x/bundle --data data/synth --sweep dpmpp:10,dpmpp:20 --json -o eval.json
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model on a held-out corpus split (LVE, MVE, FDD, diversity, BA)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", metavar="DIR", default=None, help="model bundle (default: the shipped models/default)")
    p.add_argument("--data", metavar="DIR",
                   help="corpus folder (with a test/ split and manifest.json) or a folder of .wav + .npz pairs")
    p.add_argument("--real", metavar="DIR",
                   help="instead: lip sync on real recordings, one sub-folder per condition (clean, conversational, "
                        "telephone, noisy, ...) of <name>.wav + <name>.txt pairs (see diface_editor.bench.real_speech)")
    p.add_argument("--with-transcript", action="store_true",
                   help="with --real: also run the model with the viseme constraints of the transcript's alignment "
                        "(reported as model_transcript beside the audio-only model)")
    p.add_argument("--no-transcribe", action="store_true",
                   help="with --real: report the audio-only model as 'model' (default: 'model' uses the words "
                        "recognised in the audio, as diface generate does, and 'model_audio_only' is reported beside it)")
    p.add_argument("--split", default="test", help="split folder inside --data (default: test)")
    p.add_argument("--max-clips", type=int, default=None, metavar="N", help="evaluate at most N clips")
    p.add_argument("--ddpm-clips", type=int, default=6, metavar="N",
                   help="clips also sampled with DDPM-1000 (slow; default 6, 0 = skip)")
    p.add_argument("--diversity-clips", type=int, default=8, metavar="N", help="clips for diversity (default 8)")
    p.add_argument("--diversity-samples", type=int, default=3, metavar="S", help="samples per clip (default 3)")
    p.add_argument("--sweep", default="", metavar="LIST",
                   help="extra sampler:steps settings measured on the DDPM subset, e.g. dpmpp:10,dpmpp:20,ddim:25")
    p.add_argument("--no-teacher", action="store_true", help="skip the pocketsphinx + teacher baseline")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (default: the model's recommended one)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature for every part (default: the model's recommendation per part)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-o", "--output", metavar="FILE", default=None, help="also write the JSON result to FILE")
    p.set_defaults(func=run)


def _parse_sweep(text: str) -> tuple[tuple[str, int], ...]:
    from diface_editor.core.errors import DifaceError

    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            s, k = item.split(":")
            if s not in ("ddim", "dpmpp"):
                raise ValueError
            out.append((s, int(k)))
        except ValueError:
            raise DifaceError(f"--sweep entries look like dpmpp:20 or ddim:25, not {item!r}") from None
    return tuple(out)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def run(args: argparse.Namespace) -> int:
    from diface_editor.bench.evaluate import EvalOptions, evaluate
    from diface_editor.core.atomic import atomic_write_text
    from diface_editor.core.errors import DifaceError
    from diface_editor.engine.loading import load_model

    if bool(args.data) == bool(args.real):
        raise DifaceError("give either --data (a corpus split with motion ground truth) or --real (recordings "
                          "with transcripts)")
    sweep = _parse_sweep(args.sweep)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    if args.real:
        return _run_real(args)
    model = load_model(args.model, device=args.device)
    opts = EvalOptions(split=args.split, max_clips=args.max_clips, ddpm_clips=max(0, args.ddpm_clips),
                       diversity_clips=max(0, args.diversity_clips), n_div=args.diversity_samples, sweep=sweep,
                       teacher=not args.no_teacher, seed=args.seed, guidance=args.guidance,
                       temperature=args.temperature)
    res = evaluate(model, args.data, opts, progress=lambda s: print(s, file=sys.stderr, flush=True))
    text = json.dumps(res, indent=1)
    if args.output:
        atomic_write_text(args.output, text + "\n")
    if args.json:
        print(text)
        return 0
    print(f"{res['clips']} clips ({res['audio_minutes']:.2f} min) of {res['data']} [{res['split']}]")
    print(f"{'method':18s} {'clips':>5s} {'LVE mm':>8s} {'LVE mm2':>8s} {'MVE mm':>8s} {'FDD mm2':>8s}")
    for name, m in res["methods"].items():
        print(f"{name:18s} {m['clips']:5d} {_fmt(m['lve_mm']):>8s} {_fmt(m['lve_sq_mm2']):>8s} "
              f"{_fmt(m['mve_mm']):>8s} {_fmt(m['fdd_mm2']):>8s}")
    for s in res["sweep"]:
        print(f"{s['sampler'] + ':' + str(s['steps']):18s} {s['clips']:5d} {_fmt(s['lve_mm']):>8s}"
              f"   rtf {s['rtf']:.3f}")
    print(f"diversity {_fmt(res['diversity'])} mm (head {_fmt(res['diversity_head_deg'])} deg); "
          f"BA model {_fmt(res['ba'])}, ground truth {_fmt(res['ba_gt'])}; "
          f"rtf {res['rtf']:.3f} ({res['sampler']} {res['steps']} steps)")
    return 0


def _run_real(args: argparse.Namespace) -> int:
    from diface_editor.bench.real_speech import format_table, load_real_set, real_speech_eval
    from diface_editor.core.atomic import atomic_write_text
    from diface_editor.engine.loading import load_model

    clips = load_real_set(args.real, max_clips=args.max_clips)
    model = load_model(args.model, device=args.device)
    res = real_speech_eval(model, clips, seed=args.seed, guidance=args.guidance, temperature=args.temperature,
                           with_transcript=args.with_transcript, transcribe=not args.no_transcribe,
                           progress=lambda s: print(s, file=sys.stderr, flush=True))
    text = json.dumps(res, indent=1)
    if args.output:
        atomic_write_text(args.output, text + "\n")
    print(text if args.json else format_table(res))
    return 0
