"""A typed transcript that does not align as a whole (issue #13): a long or noisy take, or a script
with words the actor did not say. The stretches that align keep their words and phones; the others'
words are kept with estimated times and the phone ``SPN``, which pins nothing, and the editor says so."""

from __future__ import annotations

import numpy as np
import pytest

from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.audio import AudioClip
from diface_editor.core.paths import resource
from diface_editor.core.transcript import UNALIGNED, Transcript

FPS = 30.0
EXTRA = " And that is all."  # said nowhere in the demo line


@pytest.fixture(scope="module")
def demo_clip():
    pytest.importorskip("pocketsphinx")
    return AudioClip.load(resource("demo", "demo.wav")), resource("demo", "demo.txt").read_text(encoding="utf-8")


def test_words_the_audio_lacks_leave_the_rest_aligned(demo_clip):
    """The script has a sentence more than the take: the strict alignment fails; the partial one keeps
    the words that were said where the strict alignment of the true text puts them (nine in ten within
    30 ms, all within 100 ms) and
    gives up only the extra words (and at most the word next to them)."""
    from diface_editor.synth.align import AlignmentError, align

    clip, text = demo_clip
    truth = align(clip.samples, clip.sample_rate, text)
    with pytest.raises(AlignmentError):
        align(clip.samples, clip.sample_rate, text + EXTRA)
    al = align(clip.samples, clip.sample_rate, text + EXTRA, partial=True)
    assert [w for w, _a, _b in al.words] == [w for w, _a, _b in truth.words] + ["and", "that", "is", "all"]
    n = len(truth.words)
    assert set(range(n, n + 4)) <= set(al.unaligned) and len(al.unaligned) <= 5
    placed = [i for i in range(n) if i not in al.unaligned]
    errors = [max(abs(al.words[i][1] - truth.words[i][1]), abs(al.words[i][2] - truth.words[i][2])) for i in placed]
    assert max(errors) <= 0.1 and np.mean(np.asarray(errors) <= 0.03) >= 0.9, errors
    # phones cover the clip; the words given up have one SPN phone each, the others none
    assert al.phones[0][1] == 0.0 and abs(al.phones[-1][2] - clip.duration) < 1e-6
    tr = Transcript.from_alignment(text + EXTRA, al)
    assert tr.unaligned_words == tuple(al.unaligned)
    assert not any(p == UNALIGNED for p, a, b in tr.phones if b <= al.words[al.unaligned[0]][1] - 1e-6)
    assert "could not be placed" in tr.status() and f"of {n + 4} words" in tr.status()


@pytest.mark.parametrize("before, after", [("", " I paid $20 on 3/4/2021."),
                                           ("Scene two. Interior, night. Mary enters and says: ",
                                            " Then she leaves the room in a hurry."),
                                           ("Scene two. Interior, night. Mary enters from the left and says: ",
                                            "")])
def test_a_script_longer_than_the_take_places_the_words_said(demo_clip, before, after):
    """The script of a whole scene, the audio of one line: seven or more words before or after the line
    that were never said (the anchors used to skip at most two in a row, so nothing was placed and the
    alignment was refused; with both, the line's first words were then given up with those before
    them; with twelve only before, the grammar skipping two in a row put unsaid words on the line's
    first ones): the words said are placed where the line's own alignment has them, the others given up."""
    from diface_editor.synth.align import align, transcript_words

    clip, text = demo_clip
    truth = align(clip.samples, clip.sample_rate, text).words
    al = align(clip.samples, clip.sample_rate, before + text + after, partial=True)
    placed = [al.words[i] for i in range(len(al.words)) if i not in al.unaligned]
    near = [w for w in placed if any(w[0] == t[0] and abs(w[1] - t[1]) <= 0.03 for t in truth)]
    assert len(near) >= 0.9 * len(truth), (len(near), len(truth))
    n0, n1 = len(transcript_words(before)), len(transcript_words(after))
    unsaid = set(range(n0)) | set(range(len(al.words) - n1, len(al.words)))
    assert unsaid <= set(al.unaligned)


def test_the_second_pass_does_not_decode_again_what_the_first_did(demo_clip, monkeypatch):
    """Twenty unsaid words after the line: the partial alignment runs twice (the second time with anchors
    that may skip the ends) and asked pocketsphinx the same anchor question twice (a minute each on a
    25 s noisy take). Now every decode of a grammar on a stretch happens once, and the words said are
    still all placed."""
    from diface_editor.synth import align as aligner

    decodes = []

    class Recording:  # the shared decoder, noting each grammar decode: (grammar, audio)
        def __init__(self, dec):
            self._dec, self._fsg = dec, None

        def __getattr__(self, name):
            return getattr(self._dec, name)

        def create_fsg(self, name, start, end, trans):
            self._fsg = (end, tuple(trans))
            return self._dec.create_fsg(name, start, end, trans)

        def process_raw(self, pcm, *args, **kwargs):
            if self._fsg is not None:
                decodes.append((self._fsg, hash(pcm)))
                self._fsg = None
            return self._dec.process_raw(pcm, *args, **kwargs)

    real = aligner._get_decoder
    monkeypatch.setattr(aligner, "_get_decoder", lambda: Recording(real()))
    clip, text = demo_clip
    after = " John looks up from his newspaper, folds it slowly, puts it on the table next to the cold coffee and"
    al = aligner.align(clip.samples, clip.sample_rate, text + after, partial=True)
    n = len(al.words) - 20
    assert set(range(n, n + 20)) <= set(al.unaligned) and not set(range(n)) & set(al.unaligned)
    assert len(decodes) == len(set(decodes)) > 1


@pytest.mark.parametrize("before, after", [("MARY: ", ""), ("He turns and says: ", ""), ("", " Then she leaves.")])
def test_a_few_unsaid_words_at_an_end_are_given_up_not_squeezed_in(demo_clip, before, after):
    """A speaker's name or the last words of a stage direction before the line (the first of the next
    line after it): the strict alignment succeeds by squeezing them onto the first (last) words said,
    which then sat up to a second off (the demo line with three such words before it: 9 of its 29 words
    within 30 ms). They are given up instead and the line is placed as its own alignment has it."""
    from diface_editor.synth.align import align, transcript_words

    clip, text = demo_clip
    truth = align(clip.samples, clip.sample_rate, text).words
    al = align(clip.samples, clip.sample_rate, before + text + after, partial=True)
    n0, n1 = len(transcript_words(before)), len(transcript_words(after))
    assert al.unaligned == list(range(n0)) + list(range(len(al.words) - n1, len(al.words)))
    line = al.words[n0:len(al.words) - n1]
    errors = [max(abs(w[1] - t[1]), abs(w[2] - t[2])) for w, t in zip(line, truth)]
    assert max(errors) <= 0.03, errors


def test_a_whole_scene_typed_for_one_line_is_not_refused(demo_clip):
    """Two thirds of the script unsaid (a scene of 93 words, the take of its 29-word line) was refused as
    a wrong transcript ("only 29 of its 93 words"): words given up where nothing is said no longer count
    against it, and the line is placed as its own alignment has it."""
    from diface_editor.synth.align import align

    clip, text = demo_clip
    before = ("Scene two. Interior, night. Mary enters from the left, crosses to the window, looks down at the "
              "street for a long moment and then turns to the audience and says: ")
    after = (" John looks up from his newspaper, folds it slowly, puts it on the table next to the cold coffee "
             "and answers her without a smile: not today, Mary. Not today and not tomorrow either.")
    truth = align(clip.samples, clip.sample_rate, text).words
    al = align(clip.samples, clip.sample_rate, before + text + after, partial=True)
    placed = [al.words[i] for i in range(len(al.words)) if i not in al.unaligned]
    assert len(al.words) == 93 and len(placed) == len(truth)
    assert all(w[0] == t[0] and abs(w[1] - t[1]) <= 0.03 and abs(w[2] - t[2]) <= 0.03 for w, t in zip(placed, truth))


def test_a_transcript_of_another_line_is_still_an_error(demo_clip):
    """A few words of any text can be forced onto speech; a partial alignment that places under a third
    of them is refused with one sentence (the editor then follows the audio alone)."""
    from diface_editor.synth.align import AlignmentError, align

    clip, _text = demo_clip
    words = np.random.default_rng(0).choice("cat dog house blue running table water green apple river".split(), 60)
    with pytest.raises(AlignmentError, match=r"could not align .*only \d+ of its 60 words"):
        align(clip.samples, clip.sample_rate, " ".join(words), partial=True)


def test_an_alignment_does_not_depend_on_what_was_aligned_before(demo_clip):
    """The aligner's decoder is shared; its running cepstral mean used to carry over, so the demo line
    aligned differently after a noisy copy of it had been aligned."""
    from diface_editor.synth.align import align

    clip, text = demo_clip
    x = np.asarray(clip.samples, np.float32)
    first = align(x, clip.sample_rate, text).phones
    noise = np.random.default_rng(0).standard_normal(x.size).astype(np.float32) * np.sqrt(np.mean(x ** 2)) * 0.1
    align(x + noise, clip.sample_rate, text)  # 20 dB SNR
    assert align(x, clip.sample_rate, text).phones == first


def test_the_editor_aligns_in_parts_and_recognised_words_do_not(demo_clip, monkeypatch):
    """A typed transcript is aligned in parts; words recognised in the audio are all or nothing (a
    recogniser's words for noise would otherwise be forced onto it piecewise)."""
    from diface_editor.engine import edit_policy
    from diface_editor.engine.session import align_transcript

    clip, text = demo_clip
    tr = align_transcript(clip, text + EXTRA)
    assert tr.aligned and len(tr.unaligned_words) >= 4
    calls = []
    monkeypatch.setattr("diface_editor.ml.audio.whisper_asr.transcribe", lambda audio: text + EXTRA)
    real = edit_policy.align_transcript
    monkeypatch.setattr(edit_policy, "align_transcript",
                        lambda a, t, partial=True, **kw: calls.append(partial) or real(a, t, partial, **kw))
    heard = edit_policy.transcribe_speech(clip)
    assert calls == [False] and not heard.aligned and "could not be aligned" in heard.error


def test_nothing_is_pinned_on_or_near_a_word_that_was_not_placed():
    """An SPN stretch is the model's (the audio's): no pins on it nor within 100 ms of it; the p before
    it is still sealed."""
    from diface_editor.engine.visemes import UNALIGNED_MARGIN_S, viseme_pins

    phones = (("SIL", 0.0, 0.3), ("P", 0.3, 0.4), ("AA", 0.4, 0.7), ("SIL", 0.7, 0.9), (UNALIGNED, 0.9, 1.5),
              ("M", 1.5, 1.6), ("IY", 1.6, 1.9), ("SIL", 1.9, 3.0))
    mask, values = viseme_pins(phones, 90, FPS, ARKIT_NAMES)
    t = np.arange(90) / FPS
    near = (t >= 0.9 - UNALIGNED_MARGIN_S - 1e-9) & (t <= 1.5 + UNALIGNED_MARGIN_S + 1e-9)
    assert not mask[near].any()
    close = ARKIT_NAMES.index("mouthClose")
    assert mask[(t > 0.3) & (t < 0.4), close].any() and values[(t > 0.3) & (t < 0.4), close].max() >= 0.4
    assert mask[(t > 1.65) & (t < 1.85)].any()  # the vowel after the M, out of the margin, is pinned


def test_an_unplaced_word_survives_the_project_and_its_retyping_aligns_it(demo_clip, tmp_path):
    from diface_editor.core.document import Document
    from diface_editor.core.project import load_project, save_project
    from diface_editor.engine.session import align_transcript
    from diface_editor.engine.transcript_edits import word_phones

    clip, text = demo_clip
    tr = align_transcript(clip, text + EXTRA)
    doc = Document.from_audio(clip, fps=FPS, transcript=tr)
    save_project(doc, tmp_path / "p.diface")
    back = load_project(tmp_path / "p.diface").transcript
    assert back.unaligned_words == tr.unaligned_words and back.phones == tr.phones
    i = tr.unaligned_words[0]
    w, a, b = tr.words[i]
    ws, ps = word_phones(clip, a, b, w)
    assert [x[0] for x in ws] == [w] and ps and all(p != UNALIGNED for p, _x, _y in ps)


def test_the_lane_marks_words_that_were_not_placed(qtbot):
    pytest.importorskip("PySide6")
    from PySide6 import QtCore

    from diface_editor.core.document import Document
    from diface_editor.gui.timeline.widget import TimelineWidget

    words = (("bob", 0.3, 0.63), ("may", 0.7, 0.95), ("buy", 1.5, 1.9))
    phones = (("SIL", 0.0, 0.3), ("B", 0.3, 0.38), ("AA", 0.38, 0.55), ("B", 0.55, 0.63), ("SIL", 0.63, 0.7),
              (UNALIGNED, 0.7, 0.95), ("SIL", 0.95, 1.5), ("B", 1.5, 1.6), ("AY", 1.6, 1.9), ("SIL", 1.9, 3.0))
    tr = Transcript("bob may buy", words, phones)
    assert tr.unaligned_words == (1,)
    w = TimelineWidget()
    qtbot.addWidget(w)
    w.resize(1000, 420)
    w.show()
    w.set_document(Document.from_audio(AudioClip.from_array(np.zeros(3 * 8000, np.float32), 8000), fps=FPS,
                                       transcript=tr))
    w.set_visible_range(0.0, 2.0)
    w.grab()
    lane = w.lane
    assert lane.phones_visible()
    assert "not aligned" in lane.tooltip_at(QtCore.QPointF(0.8, 0.75))  # the word
    assert "not aligned" in lane.tooltip_at(QtCore.QPointF(0.8, 0.25))  # its phone
    assert lane.tooltip_at(QtCore.QPointF(0.4, 0.75)) == "bob  0.30-0.63 s"


def test_opening_audio_with_a_script_that_partly_matches_aligns_it_off_the_gui_thread(qapp, rig, tmp_path):
    """A ``voice.txt`` beside the audio is aligned in the background (the window stays live: open
    returns before it is done), then the first take starts with it; the panel says which words could
    not be placed and the take is part of opening (nothing to save)."""
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("vispy")
    import shutil
    import time

    from _gui_support import close_window, editor_env, new_window

    wav = tmp_path / "line.wav"
    shutil.copy(resource("demo", "demo.wav"), wav)
    wav.with_suffix(".txt").write_text(resource("demo", "demo.txt").read_text(encoding="utf-8") + EXTRA)
    with pytest.MonkeyPatch.context() as mp:
        editor_env(mp, tmp_path)
        w = new_window(rig)
        try:
            applied = []
            w.bridge.result_applied.connect(applied.append)
            assert w.open_path(wav, generate=True)
            assert w.doc.transcript is None  # not aligned yet: open did not wait for it
            end = time.monotonic() + 180
            while not applied and time.monotonic() < end:
                qapp.processEvents()
                time.sleep(0.01)
            assert applied, "the first take did not arrive"
            tr = w.doc.transcript
            assert tr is not None and tr.aligned and len(tr.unaligned_words) >= 4
            assert "could not be placed" in w.panel.transcript_status.text()
            assert w.doc.animation.face.any() and w.undo_stack.isClean()
        finally:
            close_window(w)
