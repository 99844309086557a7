"""Exports carry the words and phones (issue #13 part 5): sidecar JSON and Praat TextGrid beside the
file, the same JSON in glTF extras / .npz metadata, ``--no-transcript``, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diface_editor.core.animation import Animation
from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.formats import load_animation, save_animation
from diface_editor.core.formats.transcript_files import (
    TranscriptFileError,
    read_textgrid,
    read_words_json,
    sidecar_paths,
    textgrid_text,
    transcript_metadata,
    transcript_of,
    write_transcript_sidecars,
)
from diface_editor.core.transcript import Transcript

WORDS = (("bob", 0.3, 0.63), ("may", 0.7, 0.95), ('say "hi"', 1.05, 1.35))
PHONES = (("SIL", 0.0, 0.3), ("B", 0.3, 0.38), ("AA", 0.38, 0.55), ("B", 0.55, 0.63), ("M", 0.7, 0.78),
          ("EY", 0.78, 0.95), ("S", 1.05, 1.15), ("EY", 1.15, 1.35))
TR = Transcript(text="bob may say hi", words=WORDS, phones=PHONES)


def _same(a: Transcript, b: Transcript, labels_only_words: bool = False) -> None:
    for x, y in ((a.words, b.words), (a.phones, b.phones)):
        x = [t for t in x if t[0].strip() and t[0] != "SIL"] if labels_only_words else list(x)
        y = [t for t in y if t[0].strip() and t[0] != "SIL"] if labels_only_words else list(y)
        assert [t[0] for t in x] == [t[0] for t in y]
        np.testing.assert_allclose([t[1:] for t in x], [t[1:] for t in y], atol=1e-6)


def _take(n: int = 60) -> Animation:
    rng = np.random.default_rng(0)
    return Animation(fps=30.0, face=rng.uniform(0, 1, (n, 52)).astype(np.float32),
                     head=rng.normal(0, 0.05, (n, 3)).astype(np.float32), channel_names=ARKIT_NAMES, space="arkit")


def test_sidecars_round_trip(tmp_path):
    out = tmp_path / "take.npy"
    written = write_transcript_sidecars(out, TR, 2.0, 30.0)
    assert written == list(sidecar_paths(out)) and all(p.is_file() for p in written)
    _same(read_words_json(written[0]), TR)
    _same(read_textgrid(written[1]), TR, labels_only_words=True)
    text = written[1].read_text()
    assert 'name = "words"' in text and 'name = "phones"' in text and 'text = "say ""hi"""' in text
    # Praat wants the tier covered without gaps: intervals chain from 0 to the duration
    xs = [float(v) for v in __import__("re").findall(r"xm(?:in|ax) = ([0-9.e+-]+)", text)]
    assert xs[0] == 0.0 and max(xs) == 2.0
    assert write_transcript_sidecars(tmp_path / "none.npy", None, 2.0) == []
    assert write_transcript_sidecars(tmp_path / "none.npy", Transcript(text="not aligned"), 2.0) == []


def test_gltf_and_npz_carry_the_transcript_in_their_metadata(tmp_path):
    anim = _take()
    anim.metadata.update(transcript_metadata(TR, anim.duration, anim.fps))
    for name in ("take.glb", "take.npz"):
        back = load_animation(save_animation(anim, tmp_path / name))
        _same(transcript_of(back.metadata), TR)
    glb = (tmp_path / "take.glb").read_bytes()  # 12-byte header, then the JSON chunk (length, type, data)
    doc = json.loads(glb[20:20 + int.from_bytes(glb[12:16], "little")])
    assert "transcript" in doc["scenes"][0]["extras"]["diface"]["metadata"]


def test_info_reports_the_words_of_a_take(tmp_path, capsys):
    from diface_editor.cli.main import main

    anim = _take()
    save_animation(anim, tmp_path / "plain.npz")
    save_animation(anim, tmp_path / "side.npy")
    write_transcript_sidecars(tmp_path / "side.npy", TR, anim.duration, anim.fps)
    anim.metadata.update(transcript_metadata(TR, anim.duration, anim.fps))
    save_animation(anim, tmp_path / "meta.npz")
    assert main(["info", str(tmp_path / "plain.npz"), str(tmp_path / "side.npy"), str(tmp_path / "meta.npz")]) == 0
    out = capsys.readouterr().out.split("\n\n")
    assert "transcript" not in out[0]
    assert "transcript (side.words.json): 3 words, 8 phones: bob may" in out[1]
    assert "transcript (in the file): 3 words" in out[2]


def test_cli_export_writes_sidecars_unless_told_not_to(tmp_path, capsys):
    from diface_editor.cli.main import main

    anim = _take()
    anim.metadata.update(transcript_metadata(TR, anim.duration, anim.fps))
    src = save_animation(anim, tmp_path / "take.npz")
    assert main(["export", str(src), str(tmp_path / "out.csv")]) == 0
    js, tg = sidecar_paths(tmp_path / "out.csv")
    _same(read_words_json(js), TR)
    assert tg.is_file()
    assert main(["export", str(src), str(tmp_path / "bare.csv"), "--no-transcript"]) == 0
    assert not any(p.exists() for p in sidecar_paths(tmp_path / "bare.csv"))
    plain = save_animation(_take(), tmp_path / "plain.npz")  # no transcript: nothing beside the export
    assert main(["export", str(plain), str(tmp_path / "plain.csv")]) == 0
    assert not any(p.exists() for p in sidecar_paths(tmp_path / "plain.csv"))
    # a sidecar beside a file without metadata is carried along
    write_transcript_sidecars(tmp_path / "plain.npz", TR, 2.0, 30.0)
    assert main(["export", str(plain), str(tmp_path / "again.npy")]) == 0
    _same(read_words_json(sidecar_paths(tmp_path / "again.npy")[0]), TR)


def test_bad_words_files_are_one_sentence(tmp_path):
    bad = tmp_path / "x.TextGrid"
    bad.write_text("hello")
    with pytest.raises(TranscriptFileError, match="not a Praat TextGrid"):
        read_textgrid(bad)
    text = textgrid_text(TR, 2.0).replace("xmin = 0.38", "xmin = 0.2", 1)
    bad.write_text(text)
    with pytest.raises(TranscriptFileError, match="overlapping"):
        read_textgrid(bad)
    js = tmp_path / "x.words.json"
    js.write_text('{"format": "something-else"}')
    with pytest.raises(TranscriptFileError, match="not a diface words file"):
        read_words_json(js)
    js.write_text("{")
    with pytest.raises(TranscriptFileError, match="cannot read"):
        read_words_json(js)


def test_export_dialog_writes_the_words_when_checked(qtbot, tmp_path):
    pytest.importorskip("PySide6")
    from diface_editor.gui.export_dialog import ExportDialog

    dlg = ExportDialog(_take(), "take", tmp_path, transcript=TR, last_format="npy")
    qtbot.addWidget(dlg)
    assert dlg.words_check.isChecked() and dlg.words_check.isEnabled()
    written = dlg.export()
    _same(read_words_json(sidecar_paths(written)[0]), TR)
    dlg.words_check.setChecked(False)
    dlg.path_edit.setText(str(tmp_path / "bare.npy"))
    assert not any(p.exists() for p in sidecar_paths(dlg.export()))
    none = ExportDialog(_take(), "take", tmp_path, transcript=None)
    qtbot.addWidget(none)
    assert not none.words_check.isChecked() and not none.words_check.isEnabled()
