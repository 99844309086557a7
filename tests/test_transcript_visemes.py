"""Transcripts in documents and projects, viseme constraints in the sampler, performance controls
(issue #13 parts A-C)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from diface_editor.core.arkit import ARKIT_NAMES
from diface_editor.core.audio import AudioClip
from diface_editor.core.commands import SetTranscript, UndoStack
from diface_editor.core.document import Document, DocumentError, SamplerSettings
from diface_editor.core.project import load_project, save_project
from diface_editor.core.transcript import Transcript, TranscriptError, changed_span

ROOT = Path(__file__).resolve().parents[1]
FPS = 30.0

#: hand-timed phones of "bob may buy five maps" over 3 s (the model needs no alignment for the checks)
PHONES = (("SIL", 0.0, 0.3), ("B", 0.3, 0.38), ("AA", 0.38, 0.55), ("B", 0.55, 0.63), ("M", 0.7, 0.78),
          ("EY", 0.78, 0.95), ("B", 1.05, 1.12), ("AY", 1.12, 1.35), ("F", 1.45, 1.55), ("AY", 1.55, 1.75),
          ("V", 1.75, 1.83), ("M", 1.95, 2.03), ("AE", 2.03, 2.25), ("P", 2.25, 2.33), ("S", 2.33, 2.45),
          ("W", 2.45, 2.55), ("UW", 2.55, 2.75), ("SIL", 2.75, 3.0))
WORDS = (("bob", 0.3, 0.63), ("may", 0.7, 0.95), ("buy", 1.05, 1.35), ("five", 1.45, 1.83), ("maps", 1.95, 2.45),
         ("woo", 2.45, 2.75))


def _speech(seconds: float = 3.0, rate: int = 16000) -> AudioClip:
    t = np.arange(int(rate * seconds)) / rate
    sig = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    return AudioClip.from_array(sig.astype(np.float32), rate)


# ---------------------------------------------------------------------- A: the transcript in the document
def test_transcript_round_trips_through_the_project(tmp_path):
    clip = _speech()
    tr = Transcript("Bob may buy five maps, woo.", WORDS, PHONES, None, ("woo",))
    settings = SamplerSettings(viseme_strength=0.4, lip_sync=1.3, upper_face=0.5, head_motion=0.0, style="2")
    doc = Document.from_audio(clip, embed_audio=True, transcript=tr, sampler=settings)
    path = save_project(doc, tmp_path / "take.diface")
    back = load_project(path)
    assert back.transcript == tr
    assert back.transcript.aligned and back.transcript.words[0] == ("bob", 0.3, 0.63)
    assert back.sampler == settings
    # a failed alignment is kept as such (the text and why), and no transcript stays none
    doc.set_transcript(tr.failed("pocketsphinx could not align the transcript"))
    back = load_project(save_project(doc, tmp_path / "failed.diface"))
    assert back.transcript.text == tr.text and not back.transcript.aligned
    assert "could not align" in back.transcript.error
    doc.set_transcript(None)
    assert load_project(save_project(doc, tmp_path / "none.diface")).transcript is None


def test_transcript_changes_are_undoable_and_bump_the_version():
    doc = Document.from_audio(_speech())
    stack = UndoStack(doc)
    v0 = doc.version
    tr = Transcript("bob", WORDS[:1], PHONES[:3])
    stack.push(SetTranscript(tr, "set transcript"))
    assert doc.transcript == tr and doc.version > v0
    moved = tr.retimed("phones", 1, "end", 0.36)
    assert moved.phones[1] == ("B", 0.3, 0.36) and moved.phones[2][1] == 0.36
    assert changed_span(tr, moved) == (0.3, 0.55)
    stack.push(SetTranscript(moved, "retime"))
    stack.undo()
    assert doc.transcript == tr
    stack.undo()
    assert doc.transcript is None


def test_a_word_change_keeps_the_text_as_typed_around_it():
    """Case, punctuation and line breaks of the typed text survive a word edit; a text whose tokens
    are not the aligned words (recognised text, a hand-made alignment) becomes the words joined."""
    words = (("bob", 0.3, 0.63), ("may", 0.7, 0.95), ("buy", 1.05, 1.35), ("it's", 1.45, 1.83))
    phones = tuple(("AH", a, b) for _w, a, b in words)
    tr = Transcript("Bob, may\nBUY it\u2019s.", words, phones)
    assert tr.replaced_span(1.45, 1.83, (("its", 1.45, 1.83),), (("IH", 1.45, 1.83),), said="its").text == \
        "Bob, may\nBUY its."
    assert tr.replaced_span(0.7, 0.95).text == "Bob,\nBUY it\u2019s."
    assert tr.replaced_span(0.95, 1.05, (("oh", 0.96, 1.04),), (), said="Oh").text == "Bob, may\nOh BUY it\u2019s."
    # early in its pause, a new word ends the words before it (before their punctuation)
    assert tr.replaced_span(0.63, 0.7, (("oh", 0.63, 0.65),), (), said="oh").text == "Bob oh, may\nBUY it\u2019s."
    other = Transcript("bob may by its", words, phones)
    assert other.replaced_span(0.7, 0.95).text == "bob buy it's"


def test_bad_transcripts_and_settings_are_refused():
    with pytest.raises(TranscriptError):
        Transcript("x", phones=(("P", 0.5, 0.2),))
    with pytest.raises(DocumentError):
        SamplerSettings(viseme_strength=1.5)
    with pytest.raises(DocumentError):
        SamplerSettings(head_motion=-0.1)


def test_cli_reads_the_transcript_options(tmp_path):
    from diface_editor.cli.main import build_parser
    from diface_editor.cli.sampling_args import CliArgumentError, check_sampling_args, read_transcript

    p = build_parser()
    f = tmp_path / "voice.txt"
    f.write_text("bob may buy five maps\n")
    args = p.parse_args(["generate", "a.wav", "-o", "o.npz", "--text-file", str(f), "--viseme-strength", "0.5",
                         "--lip-sync", "1.2", "--upper-face", "0.8", "--head-motion", "0"])
    check_sampling_args(args)
    assert read_transcript(args).strip() == "bob may buy five maps"
    args = p.parse_args(["generate", "a.wav", "-o", "o.npz", "--head-motion", "3"])
    with pytest.raises(CliArgumentError, match="head-motion"):
        check_sampling_args(args)
    args = p.parse_args(["generate", "a.wav", "-o", "o.npz", "--text", "x", "--text-file", str(f)])
    with pytest.raises(CliArgumentError, match="not both"):
        check_sampling_args(args)


def test_a_failed_alignment_is_one_sentence_and_no_error():
    pytest.importorskip("pocketsphinx")
    from diface_editor.engine.session import align_transcript

    silent = AudioClip.from_array(np.zeros(16000, np.float32), 16000)
    tr = align_transcript(silent, "hello there")
    assert not tr.aligned and tr.error and tr.text == "hello there"
    assert not align_transcript(silent, "   ").aligned


# ---------------------------------------------------------------------- B: viseme constraints
def test_viseme_pins_close_the_lips_at_bilabials():
    from diface_editor.core.arkit import ARKIT_NAMES
    from diface_editor.engine.visemes import viseme_pins

    n = 90
    mask, values = viseme_pins(PHONES, n, FPS, ARKIT_NAMES)
    close, jaw = ARKIT_NAMES.index("mouthClose"), ARKIT_NAMES.index("jawOpen")
    pucker = ARKIT_NAMES.index("mouthPucker")
    for p, a, b in PHONES:
        frames = [f for f in range(n) if mask[f, close] and a - 1 / FPS <= f / FPS <= b + 1 / FPS]
        if p in ("P", "B", "M"):
            assert frames, p
            assert max(values[f, close] for f in frames) >= 0.4 and min(values[f, jaw] for f in frames) < 0.05
        if p == "UW":
            assert mask[int(round((a + 0.5 * (b - a)) * FPS)), pucker]
    # nothing above the mouth is pinned
    upper = [i for i, nm in enumerate(ARKIT_NAMES) if nm.startswith(("brow", "eye"))]
    assert not mask[:, upper].any()


def test_every_vowel_frame_has_its_openness_pinned():
    """The whole of every vowel is pinned to the teacher's openness: the closing glide of a diphthong
    (AY of "buy", "five") and the rounding peak of UW, W and OW too (their pucker pin no longer keeps
    the jaw free there)."""
    from diface_editor.engine.visemes import teacher_track, viseme_pins

    n = 90
    phones = PHONES[:-2] + (("OW", 2.55, 2.75), ("SIL", 2.75, 3.0))
    mask, values = viseme_pins(phones, n, FPS, ARKIT_NAMES)
    teacher = teacher_track(phones, n, FPS)
    jaw, close, pucker = (ARKIT_NAMES.index(c) for c in ("jawOpen", "mouthClose", "mouthPucker"))
    for p, a, b in phones:
        if p in ("AA", "EY", "AY", "AE", "OW", "W"):
            frames = [f for f in range(n) if a <= f / FPS < b] if p != "W" else []
            if p in ("OW", "W"):
                frames.append(int(round((a + {"OW": 0.8, "W": 0.5}[p] * (b - a)) * FPS)))
                assert mask[frames[-1], pucker], p
            assert frames and all(mask[f, jaw] and mask[f, close] for f in frames), p
            np.testing.assert_array_equal(values[frames][:, [jaw, close]], teacher[frames][:, [jaw, close]])


def test_an_edit_window_gets_the_same_pins_as_the_whole_clip_there():
    """An edit asks only for the pins of the frames it regenerates (a long take's edit visits only the
    phones near it): those are exactly the whole clip's pins there, and nothing else is pinned."""
    from diface_editor.engine.visemes import viseme_pins

    reps, dur = 8, 3.0
    phones = tuple((p, s + k * dur, e + k * dur) for k in range(reps) for p, s, e in PHONES)
    n = int(reps * dur * FPS)
    full_mask, full_values = viseme_pins(phones, n, FPS, ARKIT_NAMES)
    rng = np.random.default_rng(0)
    for a, b in [(0, 5), (n - 7, n), (200, 261), (33, 34)] + [tuple(sorted(rng.integers(0, n, 2))) for _ in range(20)]:
        rows = np.zeros(n, bool)
        rows[a:b] = True
        rows[(a + 400) % n:(a + 400) % n + 3] = True  # and a second, distant run
        mask, values = viseme_pins(phones, n, FPS, ARKIT_NAMES, rows=rows)
        np.testing.assert_array_equal(mask, full_mask & rows[:, None])
        np.testing.assert_array_equal(values[mask], full_values[mask])


def test_openness_is_pinned_between_visemes_but_not_the_lip_shape():
    """Consonant cores (not next to an f/v) and long pauses pin only jawOpen/mouthClose, at rest in a pause."""
    from diface_editor.core.arkit import ARKIT_NAMES
    from diface_editor.engine.visemes import PAUSE_MARGIN_S, viseme_pins

    n = 120
    phones = PHONES[:-1] + (("SIL", 2.75, 4.0),)
    mask, values = viseme_pins(phones, n, FPS, ARKIT_NAMES)
    jaw, close = ARKIT_NAMES.index("jawOpen"), ARKIT_NAMES.index("mouthClose")
    m = PAUSE_MARGIN_S
    pause = [f for f in range(n) if 2.75 + m <= f / FPS <= 4.0 - m]
    assert pause and all(mask[f, jaw] and mask[f, close] for f in pause)
    assert max(values[f, jaw] for f in pause if f / FPS >= 2.75 + 0.12) < 0.1  # at rest once relaxed
    s_core = [f for f in range(n) if 2.36 <= f / FPS <= 2.42]  # the S of "maps": core pinned, openness only
    assert s_core and all(mask[f, jaw] for f in s_core)
    assert not mask[s_core][:, [i for i in range(len(ARKIT_NAMES)) if i not in (jaw, close)]].any()
    edges = [f for f in range(n) if f / FPS < m or 0.3 - m < f / FPS < 0.3]  # a pause's edges stay free
    assert edges and not mask[edges].any()


def test_a_short_pause_between_words_keeps_the_mouth_at_the_teachers_openness():
    """A comma-length pause (0.15 s) is pinned like a long one inside its margins: left free, a model
    that hears noise there opened the mouth (real recordings in noise, 2026-12-04)."""
    from diface_editor.core.arkit import ARKIT_NAMES
    from diface_editor.engine.visemes import PAUSE_MARGIN_S, viseme_pins

    phones = (("SIL", 0.0, 0.3), ("M", 0.3, 0.4), ("AA", 0.4, 0.6), ("SIL", 0.6, 0.75), ("B", 0.75, 0.85),
              ("AA", 0.85, 1.1), ("SIL", 1.1, 1.5))
    n = 45
    mask, _values = viseme_pins(phones, n, FPS, ARKIT_NAMES)
    jaw, close = ARKIT_NAMES.index("jawOpen"), ARKIT_NAMES.index("mouthClose")
    inside = [f for f in range(n) if 0.6 + PAUSE_MARGIN_S <= f / FPS <= 0.75 - PAUSE_MARGIN_S]
    assert inside and all(mask[f, jaw] and mask[f, close] for f in inside)
    assert not mask[inside][:, [i for i in range(len(ARKIT_NAMES)) if i not in (jaw, close)]].any()


def test_a_long_consonant_next_to_an_f_is_pinned_except_near_the_f():
    """A drawn-out L before an F ("fall" said slowly, or an aligner that gives the L part of the vowel)
    keeps its openness pinned except within FV_NEIGHBOUR_FREE_S of the F, where the lips' move to the
    teeth stays the model's: left wholly free, a model that hears noise there opened it like a vowel."""
    from diface_editor.core.arkit import ARKIT_NAMES
    from diface_editor.engine.visemes import FV_NEIGHBOUR_FREE_S, viseme_pins

    phones = (("SIL", 0.0, 0.3), ("AO", 0.3, 0.5), ("L", 0.5, 0.9), ("F", 0.9, 1.0), ("AO", 1.0, 1.2),
              ("L", 1.2, 1.3), ("SIL", 1.3, 2.0))
    n = 60
    mask, _ = viseme_pins(phones, n, FPS, ARKIT_NAMES)
    jaw = ARKIT_NAMES.index("jawOpen")
    far = [f for f in range(n) if 0.5 <= f / FPS < 0.9 - FV_NEIGHBOUR_FREE_S - 0.5 / FPS]
    near = [f for f in range(n) if 0.9 - FV_NEIGHBOUR_FREE_S + 0.5 / FPS < f / FPS < 0.9]
    assert len(far) >= 6 and all(mask[f, jaw] for f in far)
    assert near and not any(mask[f, jaw] for f in near)

@pytest.fixture(scope="module")
def shipped():
    pytest.importorskip("torch")
    if not (ROOT / "models" / "default" / "config.json").is_file():
        pytest.skip("the shipped model is not installed")
    import torch

    from diface_editor.engine.loading import load_model
    from diface_editor.engine.worker import Engine

    torch.set_num_threads(1)
    model = load_model(None, device="cpu")
    return model, Engine(model, previews=False)


def _generate(shipped, **kw):
    from diface_editor.engine.requests import GenerateRequest

    model, engine = shipped
    rec = dict(model.sampling or {})
    req = GenerateRequest(_speech(), seed=3, sampler=rec.get("sampler", "dpmpp"), steps=rec.get("steps"),
                          guidance=float(rec.get("guidance", 1.0)), **kw)
    return engine.run_sync(req).animations[0]


def test_closures_and_contacts_are_hit_on_the_rig(shipped):
    from diface_editor.bench.real_speech import CLOSED_GAP_MM, FV_CONTACT_MM, MouthGeometry, share_below

    geo = MouthGeometry.default()
    anim = _generate(shipped, phones=PHONES)
    w = geo.weights(anim)
    hits, count = share_below(geo.lip_gap_mm(w), PHONES, ("P", "B", "M"), FPS, CLOSED_GAP_MM)
    assert count == 6 and hits == count
    hits, count = share_below(geo.lip_to_teeth_mm(w), PHONES, ("F", "V"), FPS, FV_CONTACT_MM)
    assert count == 2 and hits == count


def test_strength_zero_is_the_audio_only_result_bit_for_bit(shipped):
    free = _generate(shipped)
    assert _generate(shipped, phones=PHONES, viseme_strength=0.0).equals(free)
    pinned = _generate(shipped, phones=PHONES)
    half = _generate(shipped, phones=PHONES, viseme_strength=0.5)
    assert not pinned.equals(free)
    # between: the pinned result's deviation from the audio-only one, halved; the head has no pins
    np.testing.assert_allclose(half.face, free.face + 0.5 * (pinned.face - free.face), atol=1e-6)
    np.testing.assert_array_equal(pinned.head, free.head)
    np.testing.assert_array_equal(half.head, free.head)
    # the upper face (every channel outside the mouth) is the audio-only result's, bit for bit
    from diface_editor.engine.visemes import channel_group

    other = ~channel_group(list(pinned.channel_names), "mouth")
    assert other.sum() > 20
    np.testing.assert_array_equal(pinned.face[:, other], free.face[:, other])
    np.testing.assert_array_equal(half.face[:, other], free.face[:, other])


def test_edits_pin_visemes_only_where_they_regenerate(shipped):
    from diface_editor.engine.requests import EditRequest

    model, engine = shipped
    base = _generate(shipped)
    req = EditRequest(base=base, audio=_speech(), mode="range", range=(20, 50), seed=1, phones=PHONES,
                      sampler="dpmpp", steps=5)
    out = engine.run_sync(req).animations[0]
    np.testing.assert_array_equal(out.face[:20], base.face[:20])
    np.testing.assert_array_equal(out.face[50:], base.face[50:])
    from diface_editor.core.arkit import ARKIT_NAMES

    c = ARKIT_NAMES.index("mouthClose")
    b_frames = [f for f in range(20, 50) if 1.05 <= f / FPS <= 1.12]  # the B of "buy"
    assert max(out.face[f, c] for f in b_frames) >= 0.4


def test_a_transcript_resolve_changes_only_the_mouth(shipped):
    """A retimed phone re-solves the mouth around it (one sampling pass, no audio-only run): brows,
    eyes and the head stay exactly as they are; the new B still closes the lips."""
    from diface_editor.core.arkit import ARKIT_NAMES
    from diface_editor.engine.requests import EditRequest
    from diface_editor.engine.visemes import channel_group

    model, engine = shipped
    base = _generate(shipped, phones=PHONES)
    moved = tuple((p, s + 0.05, e + 0.05) if p == "B" and s > 1.0 else (p, s, e) for p, s, e in PHONES)
    req = EditRequest(base=base, audio=_speech(), mode="keyframes", centres=(33,), radius=15, seed=1, phones=moved,
                      parts=("face",), sampler="dpmpp", steps=4, face_channels="mouth")
    res = engine.run_sync(req)
    out = res.animations[0]
    other = ~channel_group(list(ARKIT_NAMES), "mouth")
    np.testing.assert_array_equal(out.face[:, other], base.face[:, other])
    np.testing.assert_array_equal(out.head, base.head)
    np.testing.assert_array_equal(out.face[:18], base.face[:18])
    np.testing.assert_array_equal(out.face[49:], base.face[49:])
    assert not np.array_equal(out.face[18:49], base.face[18:49])
    assert res.info["calls"] == 1  # the pinned pass only
    c = ARKIT_NAMES.index("mouthClose")
    assert max(out.face[f, c] for f in range(18, 49) if 1.10 <= f / FPS <= 1.17) >= 0.4


# ---------------------------------------------------------------------- C: performance controls
def test_performance_controls_scale_the_generated_motion(shipped):
    from diface_editor.engine.visemes import channel_group

    free = _generate(shipped)
    still = _generate(shipped, head_motion=0.0)
    np.testing.assert_array_equal(still.face, free.face)  # the head control leaves the face alone
    assert np.abs(still.head).max() < 0.25 * np.abs(free.head).max()
    quiet = _generate(shipped, lip_sync=0.5, upper_face=0.0)
    mouth = channel_group(free.channel_names, "mouth")
    upper = channel_group(free.channel_names, "upper")
    assert quiet.face[:, mouth].mean() < 0.75 * free.face[:, mouth].mean()
    assert quiet.face[:, upper].max() < 0.5 * max(free.face[:, upper].max(), 1e-3) + 1e-3
    np.testing.assert_array_equal(quiet.head, free.head)


def test_lip_sync_strength_scales_the_mouth_with_a_transcript_too(shipped):
    """With a transcript most speech frames are pinned: the lip-sync control must scale the pinned
    openness as well (it once left it alone), while p/b/m stay sealed."""
    from diface_editor.bench.real_speech import CLOSED_GAP_MM, MouthGeometry, share_below

    jaw = ARKIT_NAMES.index("jawOpen")
    full = _generate(shipped, phones=PHONES)
    small = _generate(shipped, phones=PHONES, lip_sync=0.5)
    big = _generate(shipped, phones=PHONES, lip_sync=1.5)
    peak = {k: float(np.percentile(a.face[:, jaw], 95)) for k, a in (("small", small), ("full", full), ("big", big))}
    assert peak["small"] < 0.7 * peak["full"] and peak["big"] > 1.25 * peak["full"], peak
    geo = MouthGeometry.default()
    for anim in (small, big):
        hits, count = share_below(geo.lip_gap_mm(geo.weights(anim)), PHONES, ("P", "B", "M"), FPS, CLOSED_GAP_MM)
        assert count == 6 and hits == count


def test_the_session_sends_transcript_and_controls():
    from diface_editor.engine.session import EditSession

    tr = Transcript("bob", WORDS, PHONES)
    doc = Document.from_audio(_speech(), transcript=tr,
                              sampler=SamplerSettings(viseme_strength=0.3, lip_sync=1.2, head_motion=0.5, style="1"))
    s = EditSession(doc)
    req = s.generate_request()
    assert req.phones == tuple(PHONES) and req.viseme_strength == 0.3
    assert (req.lip_sync, req.upper_face, req.head_motion) == (1.2, 1.0, 0.5) and req.style == 1
    doc.set_selection((10, 40))
    edit = s.range_request()
    assert edit.phones == tuple(PHONES) and edit.head_motion == 0.5
    doc.set_transcript(tr.failed("no"))
    assert s.generate_request().phones is None


def test_a_control_change_is_one_resolve_of_the_selection_or_clip():
    from diface_editor.engine.session import EditSession, JobKind

    doc = Document.from_audio(_speech(), transcript=Transcript("bob", WORDS, PHONES))
    s = EditSession(doc)
    job = s.performance_job("head_motion")
    req = job.build()
    assert job.kind is JobKind.RESAMPLE and job.label == "re-solve clip for head motion"
    assert req.range == (0, doc.n_frames) and req.parts == ("head",) and req.seed == doc.sampler.seed
    doc.set_selection((10, 40))
    req = s.performance_job("lip_sync").build()
    assert req.range == (10, 40) and req.parts == ("face",) and req.phones == tuple(PHONES)


def test_generate_panel_writes_the_controls_and_shows_the_transcript(qtbot):
    pytest.importorskip("PySide6")
    from diface_editor.gui.panels import GeneratePanel

    panel = GeneratePanel()
    qtbot.addWidget(panel)
    doc = Document.from_audio(_speech())
    panel.set_document(doc)
    assert not panel.style.isEnabled()
    with qtbot.waitSignal(panel.performance_changed) as sig:
        panel.head_motion.setValue(0.5)
    # the window sets it (one undo step with its re-solve), not the panel
    assert sig.args == ["head_motion", 0.5] and doc.sampler.head_motion == 1.0
    panel.set_styles(["calm", "lively"])
    with qtbot.waitSignal(panel.performance_changed) as sig:
        panel.style.setCurrentIndex(2)
    assert sig.args == ["style", "lively"]
    doc.set_sampler(head_motion=0.25, style="lively")  # an undo or a loaded project: the panel follows
    assert panel.head_motion.value() == 0.25 and panel.style.currentData() == "lively"
    doc.set_transcript(Transcript("bob may", WORDS[:2], PHONES[:6]))
    assert panel.transcript.toPlainText() == "bob may" and "2 words" in panel.transcript_status.text()
    doc.set_transcript(Transcript("x").failed("no match"))
    assert "no match" in panel.transcript_status.text()
    with qtbot.waitSignal(panel.align_requested) as sig:
        panel.transcript.setPlainText("hello")
        panel.align_button.click()
    assert sig.args == ["hello"]


def test_repeated_pins_reuse_the_teacher_pass_and_give_the_same_values():
    """Every edit of a take with a transcript asks for the pins again; the kept teacher track and
    prosody give exactly what a fresh teacher pass gives, and a caller cannot spoil the kept copy."""
    from diface_editor.engine import visemes
    from diface_editor.synth.teacher import TeacherConfig, animate

    clip = _speech()
    n = 90
    fresh = animate(list(PHONES), duration=n / FPS, seed=0, config=TeacherConfig(fps=FPS, style_jitter=0.0),
                    samples=clip.samples, sample_rate=clip.sample_rate).face
    mouth = visemes.channel_group(ARKIT_NAMES, "mouth")
    first = visemes.teacher_track(PHONES, n, FPS, clip.samples, clip.sample_rate)
    np.testing.assert_array_equal(first[:, mouth], fresh[:, mouth])
    assert not first[:, ~mouth].any()  # the pins only use the mouth: nothing else is animated
    with pytest.raises(ValueError):
        first[:] = -1.0  # the kept track is shared read-only: no caller can spoil it
    again = visemes.teacher_track(PHONES, n, FPS, clip.samples, clip.sample_rate)
    np.testing.assert_array_equal(again[:, mouth], fresh[:, mouth])
    moved = PHONES[:3] + (("B", 0.55, 0.66),) + PHONES[4:]
    fresh2 = animate(list(moved), duration=n / FPS, seed=0, config=TeacherConfig(fps=FPS, style_jitter=0.0),
                     samples=clip.samples, sample_rate=clip.sample_rate).face
    np.testing.assert_array_equal(visemes.teacher_track(moved, n, FPS, clip.samples, clip.sample_rate)[:, mouth],
                                  fresh2[:, mouth])


def test_a_phone_drag_on_a_long_take_reanimates_only_near_the_change(monkeypatch):
    """Retiming a phone of a 60 s take re-animates the teacher's mouth only around it (the rest is the
    last track), and the pins are still what a whole teacher pass gives; a change in the number of
    phones (the teacher's per-phone draws shift) animates the whole clip again."""
    from diface_editor.engine import visemes
    from diface_editor.synth import teacher
    from diface_editor.synth.teacher import TeacherConfig, animate

    seconds, n = 60.0, 1800
    clip = _speech(seconds)
    phones = [(p, s + 3.0 * k, e + 3.0 * k) for k in range(20) for p, s, e in PHONES]
    windows = []
    real = teacher.mouth_track

    def spy(*a, frames=None, **kw):
        windows.append(frames)
        return real(*a, frames=frames, **kw)

    monkeypatch.setattr(teacher, "mouth_track", spy)
    mouth = visemes.channel_group(ARKIT_NAMES, "mouth")
    cfg = TeacherConfig(fps=FPS, style_jitter=0.0)

    def whole(ph):
        return animate(ph, duration=n / FPS, seed=0, config=cfg, samples=clip.samples,
                       sample_rate=clip.sample_rate).face[:, mouth]

    visemes.teacher_track(phones, n, FPS, clip.samples, clip.sample_rate)
    for j, new_end in ((10 * 18 + 3, 30.0 + 0.66), (10 * 18 + 4, 30.0 + 0.74), (13 * 18 + 12, 39.0 + 2.27)):
        p, s, _e = phones[j]  # a boundary drag: the phone's end and its neighbour's start move
        phones[j] = (p, s, new_end)
        nxt = phones[j + 1]
        phones[j + 1] = (nxt[0], new_end, nxt[2])
        windows.clear()
        track = visemes.teacher_track(phones, n, FPS, clip.samples, clip.sample_rate)
        assert len(windows) == 1 and windows[0] is not None and windows[0][1] - windows[0][0] < 150
        np.testing.assert_allclose(track[:, mouth], whole(phones), rtol=0, atol=1e-6)
    phones.insert(40, ("AA", phones[39][2], phones[39][2]))  # an empty phone: dropped, same count
    windows.clear()
    visemes.teacher_track(phones, n, FPS, clip.samples, clip.sample_rate)
    del phones[40]
    del phones[20]  # one phone fewer: the whole clip again, exactly
    phones[20] = (phones[20][0], phones[19][2], phones[20][2])
    windows.clear()
    track = visemes.teacher_track(phones, n, FPS, clip.samples, clip.sample_rate)
    assert windows == [None]
    np.testing.assert_array_equal(track[:, mouth], whole(phones))


def test_scrolling_over_the_panel_does_not_change_its_settings(qtbot):
    """The mouse wheel over a spin box or combo box only changes it when it has the focus (a user
    scrolling the Generate panel changed Lip sync, and the clip re-solved, in a walkthrough)."""
    pytest.importorskip("PySide6")
    from PySide6 import QtCore, QtGui, QtWidgets

    from diface_editor.gui.panels import GeneratePanel

    panel = GeneratePanel()
    qtbot.addWidget(panel)
    doc = Document.from_audio(_speech())
    panel.set_document(doc)
    panel.show()

    def wheel(w):
        pos = QtCore.QPointF(5, 5)
        ev = QtGui.QWheelEvent(pos, w.mapToGlobal(pos), QtCore.QPoint(0, 0), QtCore.QPoint(0, -120),
                               QtCore.Qt.NoButton, QtCore.Qt.NoModifier, QtCore.Qt.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(w, ev)

    before = doc.sampler.lip_sync
    wheel(panel.lip_sync)
    assert doc.sampler.lip_sync == before and panel.lip_sync.value() == before
    panel.activateWindow()
    panel.lip_sync.setFocus()
    try:
        qtbot.waitUntil(panel.lip_sync.hasFocus, timeout=1000)
    except Exception:  # no window manager on this X server: the window never becomes active
        panel.lip_sync.hasFocus = lambda: True  # the filter asks the same Python wrapper
    wheel(panel.lip_sync)
    assert panel.lip_sync.value() != before  # with the focus, the wheel still works
