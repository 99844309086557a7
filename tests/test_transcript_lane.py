"""The word/phoneme lane (issue #13 part 2): the alignment kept in the project, retiming a word or
phone boundary, editing, deleting and inserting words, each one undo step that re-solves only the
window around the change; the lane's drawing at every zoom and its drags in the editor."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from _engine_fakes import FakeClip, GPModel, events_until
from diface_editor.core.audio import AudioClip
from diface_editor.core.commands import SetTranscript
from diface_editor.core.document import Document, SamplerSettings
from diface_editor.core.paths import resource
from diface_editor.core.project import load_project, save_project
from diface_editor.core.transcript import MIN_PHONE_S, Transcript, TranscriptError, changed_span
from diface_editor.engine.backend import WindowSpec
from diface_editor.engine.events import JobResult
from diface_editor.engine.session import Applied, Discarded, EditOptions, EditSession, JobKind
from diface_editor.engine.transcript_edits import delete_word, edit_word, insert_word, retime
from diface_editor.engine.worker import Engine

RADIUS = 6
FPS = 30.0
#: hand-timed "bob may buy" over 3 s (phones cover the clip, silence between the words)
PHONES = (("SIL", 0.0, 0.3), ("B", 0.3, 0.38), ("AA", 0.38, 0.55), ("B", 0.55, 0.63), ("SIL", 0.63, 0.7),
          ("M", 0.7, 0.78), ("EY", 0.78, 0.95), ("SIL", 0.95, 1.5), ("B", 1.5, 1.6), ("AY", 1.6, 1.9),
          ("SIL", 1.9, 3.0))
WORDS = (("bob", 0.3, 0.63), ("may", 0.7, 0.95), ("buy", 1.5, 1.9))


def _bob() -> Transcript:
    return Transcript("bob may buy", WORDS, PHONES)


@pytest.fixture(scope="module")
def demo():
    """The shipped demo line and its pocketsphinx alignment (real speech, a real aligner)."""
    pytest.importorskip("pocketsphinx")
    from diface_editor.engine.session import align_transcript

    clip = AudioClip.load(resource("demo", "demo.wav"))
    tr = align_transcript(clip, resource("demo", "demo.txt").read_text(encoding="utf-8"))
    assert tr.aligned, tr.error
    return clip, tr


@pytest.fixture
def engine():
    eng = Engine(GPModel(WindowSpec(window=64, overlap=16, context=8)), previews=False)
    yield eng
    eng.shutdown()


def _session(clip, tr, engine) -> tuple[Document, EditSession]:
    """A document with a generated take and ``tr``, and its session (interactive steps 2)."""
    doc = Document.from_audio(clip, fps=FPS, transcript=tr)
    doc.set_sampler(SamplerSettings(influence_frames=RADIUS, steps=3, blinks=False))
    s = EditSession(doc, engine, options=EditOptions(interactive_steps=2))
    job = s.submit(s.generate_job())
    assert isinstance(s.finish(events_until(engine, job)[-1]), Applied)
    return doc, s


def _solve(s: EditSession, engine, change):
    job = s.submit(change.solve)
    ev = events_until(engine, job)[-1]
    assert isinstance(ev, JobResult), ev
    return s.finish(ev)


def _changed_rows(a, b) -> np.ndarray:
    return np.flatnonzero(np.any(a.face != b.face, axis=1) | np.any(a.head != b.head, axis=1))


# ---------------------------------------------------------------------- the alignment in the project
def test_the_alignment_is_stored_and_reloaded_with_the_project(demo, tmp_path):
    clip, tr = demo
    doc = Document.from_audio(clip, embed_audio=True, transcript=tr)
    back = load_project(save_project(doc, tmp_path / "demo.diface"))
    assert back.transcript == tr and back.transcript.words[0][0] == "hello"
    # a retimed word is kept as retimed
    moved = retime(tr, "words", 0, "end", tr.words[0][2] + 0.04).transcript
    doc.set_transcript(moved)
    back = load_project(save_project(doc, tmp_path / "moved.diface"))
    assert back.transcript == moved and back.transcript.words[0][2] == pytest.approx(tr.words[0][2] + 0.04)


def test_a_change_spans_only_the_phones_it_touches():
    tr = _bob()
    assert changed_span(tr, retime(tr, "phones", 5, "end", 0.74).transcript) == (0.7, 0.95)
    gone = delete_word(tr, 1).transcript
    assert [w for w, _a, _b in gone.words] == ["bob", "buy"] and gone.text == "bob buy"
    assert changed_span(tr, gone) == (0.63, 1.5)  # the pause around it merged with the word's span
    # a speaker's name typed before the line goes with its colon (it used to leave ": may buy!")
    assert delete_word(Transcript("BOB: may buy!", WORDS, PHONES), 0).transcript.text == "may buy!"
    assert ("SIL", 0.63, 1.5) in gone.phones
    with pytest.raises(TranscriptError):
        retime(Transcript("not aligned"), "words", 0, "end", 1.0)


def test_a_drag_beyond_the_neighbours_stops_at_them():
    tr = _bob()
    far = retime(tr, "phones", 5, "end", 100.0).transcript  # M's end dragged far right: stops before EY's end
    assert far.phones[5][2] == pytest.approx(0.95 - MIN_PHONE_S) and far.phones[6][1] == far.phones[5][2]
    back = retime(tr, "words", 1, "start", -50.0).transcript  # not shared: stops at the word before
    assert back.words[1][1] == pytest.approx(0.63) and back.words[0] == tr.words[0]


def test_a_word_drag_that_overshoots_leaves_the_squeezed_word_long_enough_to_grab():
    """Dragging the end of a word far past its neighbour's end (the walkthrough squeezed "forced" to
    10 ms, invisible in the lane and too short for a frame) stops where the neighbour keeps
    MIN_PHONE_S per phone; its phones stay in it, in order; a word already shorter is not shortened."""
    words = (("bob", 0.3, 0.6), ("maps", 0.6, 1.0), ("go", 1.0, 1.2))
    phones = (("SIL", 0.0, 0.3), ("B", 0.3, 0.4), ("AA", 0.4, 0.5), ("B", 0.5, 0.6), ("M", 0.6, 0.7),
              ("AE", 0.7, 0.8), ("P", 0.8, 0.9), ("S", 0.9, 1.0), ("G", 1.0, 1.1), ("OW", 1.1, 1.2),
              ("SIL", 1.2, 1.5))
    tr = Transcript("bob maps go", words, phones)
    squeezed = retime(tr, "words", 0, "end", 5.0).transcript  # "bob" over "maps"
    bob, maps, go = squeezed.words
    assert maps[2] - maps[1] == pytest.approx(4 * MIN_PHONE_S) and bob[2] == maps[1] and go == words[2]
    inside = [p for p in squeezed.phones if maps[1] - 1e-9 <= p[1] and p[2] <= maps[2] + 1e-9]
    assert [p[0] for p in inside] == ["M", "AE", "P", "S"] and all(p[2] > p[1] for p in inside)
    back = retime(tr, "words", 2, "start", 0.0).transcript  # "go" over "maps" from the other side
    assert back.words[1][2] - back.words[1][1] == pytest.approx(4 * MIN_PHONE_S)
    # a word shorter than its minimum already (a hand-made alignment) is not shortened by a drag
    tiny = Transcript("bob maps go", (words[0], ("maps", 0.6, 0.62), ("go", 0.62, 1.2)), phones)
    assert retime(tiny, "words", 0, "end", 5.0).transcript.words[0][2] == pytest.approx(0.6)
    assert retime(tiny, "words", 0, "end", 0.55).transcript.words[0][2] == pytest.approx(0.55)  # shortening bob is fine


def test_a_retimed_word_carries_its_phones():
    tr = _bob()
    new = retime(tr, "words", 1, "start", 0.66).transcript  # "may" starts 40 ms earlier
    m, ey = new.phones[5], new.phones[6]
    assert m[0] == "M" and m[1] == pytest.approx(0.66) and ey[2] == pytest.approx(0.95)
    assert (m[2] - m[1]) / (ey[2] - ey[1]) == pytest.approx((0.78 - 0.7) / (0.95 - 0.78))  # stretched evenly
    assert new.phones[4][0] == "SIL" and new.phones[4][2] == pytest.approx(0.66)  # the pause before it shrank
    assert new.phones[:4] == tr.phones[:4] and new.phones[7:] == tr.phones[7:]


# ---------------------------------------------------------------------- retiming re-solves its window only
def test_a_boundary_drag_is_one_undo_step_that_re_solves_only_its_window(engine):
    doc, s = _session(FakeClip(3.0), _bob(), engine)
    before, tr0, steps = doc.animation.copy(), doc.transcript, s.history.index
    edit = retime(doc.transcript, "phones", 5, "end", 0.74)  # the M of "may" shorter, its EY longer
    change = s.change_transcript(edit.transcript, edit.label)
    assert change.committed and change.solve.kind is JobKind.TRANSCRIPT
    assert change.frames == tuple(range(21, 30))  # 0.70..0.95 s
    req = change.solve.build()
    assert req.mode == "keyframes" and req.radius == RADIUS and req.parts == ("face",) and req.steps == 2
    assert req.phones == doc.transcript.phones
    assert isinstance(_solve(s, engine, change), Applied)
    anim = doc.animation
    rows = _changed_rows(anim, before)
    assert rows.size and rows.min() >= 21 - RADIUS and rows.max() <= 29 + RADIUS  # only its window changed
    assert np.array_equal(anim.head, before.head)  # the face is re-solved, the head kept
    assert s.history.index == steps + 1  # one undo step for the transcript and its motion
    s.history.undo()
    assert doc.transcript == tr0 and doc.animation.equals(before)
    s.history.redo()
    assert doc.transcript == edit.transcript and doc.animation.equals(anim)


def test_a_performance_control_and_its_re_solve_are_one_undo_step(engine):
    """Changing a control sets it and re-solves as one step: Undo restores the control and the motion
    together; a re-solve still running when its control is undone is dropped."""
    doc, s = _session(FakeClip(3.0), _bob(), engine)
    before, steps = doc.animation.copy(), s.history.index
    change = s.change_performance("head_motion", 0.5)
    assert change.committed and doc.sampler.head_motion == 0.5 and s.history.index == steps + 1
    assert isinstance(_solve(s, engine, change), Applied)
    after = doc.animation.copy()
    assert not np.array_equal(after.head, before.head) and s.history.index == steps + 1
    s.history.undo()
    assert doc.sampler.head_motion == 1.0 and doc.animation.equals(before)
    s.history.redo()
    assert doc.sampler.head_motion == 0.5 and doc.animation.equals(after)
    # undone while its re-solve runs: the result is stale
    late = s.change_performance("head_motion", 0.2)
    job = s.submit(late.solve)
    s.history.undo()
    assert isinstance(s.finish(events_until(engine, job)[-1]), Discarded)
    assert doc.sampler.head_motion == 0.5 and doc.animation.equals(after)
    assert s.change_performance("head_motion", 0.5).solve is None  # no change: nothing to do


def test_a_change_made_while_the_last_one_solves_re_solves_both(engine):
    doc, s = _session(FakeClip(3.0), _bob(), engine)
    before = doc.animation.copy()
    first = retime(doc.transcript, "phones", 1, "end", 0.35)
    c1 = s.change_transcript(first.transcript, first.label)
    job1 = s.submit(c1.solve)
    second = retime(doc.transcript, "phones", 8, "end", 1.55)
    c2 = s.change_transcript(second.transcript, second.label)
    assert set(c1.frames) <= set(c2.solve.build().centres)  # the first change is still to be solved
    assert isinstance(s.finish(events_until(engine, job1)[-1]), Discarded)
    assert isinstance(_solve(s, engine, c2), Applied)
    rows = _changed_rows(doc.animation, before)
    lo, hi = min(c1.frames) - RADIUS, max(c2.frames) + RADIUS
    assert rows.min() >= lo and rows.max() <= hi
    assert any(r < min(c2.frames) - RADIUS for r in rows)  # the first window was solved too


def test_viseme_strength_zero_changes_the_transcript_only(engine):
    doc, s = _session(FakeClip(3.0), _bob(), engine)
    doc.set_sampler(SamplerSettings(influence_frames=RADIUS, viseme_strength=0.0, blinks=False))
    before = doc.animation.copy()
    edit = retime(doc.transcript, "words", 0, "start", 0.25)
    change = s.change_transcript(edit.transcript, edit.label)
    assert change.committed and change.solve is None and doc.animation.equals(before)
    assert doc.transcript.words[0][1] == pytest.approx(0.25)


# ---------------------------------------------------------------------- word text, delete, insert
def test_text_edit_and_delete_are_single_undo_steps(demo, engine):
    clip, tr = demo
    doc, s = _session(clip, tr, engine)
    before, steps = doc.animation.copy(), s.history.index
    i = [w for w, _a, _b in tr.words].index("there")
    edit = edit_word(doc.transcript, clip, i, "cat")
    new = edit.transcript
    assert new.words[i][0] == "cat"
    assert tr.text.startswith("Hello there!") and new.text == tr.text.replace("there", "cat", 1)  # as typed, bar the word
    a, b = tr.words[i][1], tr.words[i][2]
    inside = [p[0] for p in new.phones if a - 1e-6 <= p[1] and p[2] <= b + 1e-6 and p[0] != "SIL"]
    assert inside == ["K", "AE", "T"]  # the new word's phones, aligned on its span
    assert new.phones[: tr.phones.index(next(p for p in tr.phones if p[1] >= a - 1e-6))] == \
        tr.phones[: tr.phones.index(next(p for p in tr.phones if p[1] >= a - 1e-6))]  # earlier phones kept
    lo, hi = changed_span(tr, new)
    assert lo >= a - 1e-6 and hi <= tr.words[i + 1][1] + 1e-6  # the word and the pause after it, no farther
    change = s.change_transcript(new, edit.label)
    assert isinstance(_solve(s, engine, change), Applied) and s.history.index == steps + 1
    rows = _changed_rows(doc.animation, before)
    assert rows.min() >= int(lo * FPS) - RADIUS and rows.max() <= int(np.ceil(hi * FPS)) + RADIUS
    s.history.undo()
    assert doc.transcript == tr and doc.animation.equals(before)
    # delete: the word's span becomes a pause, one step, undone at once
    gone = delete_word(doc.transcript, i)
    change = s.change_transcript(gone.transcript, gone.label)
    assert isinstance(_solve(s, engine, change), Applied) and s.history.index == steps + 1
    assert doc.transcript.text == tr.text.replace("Hello there!", "Hello!", 1)
    assert len(doc.transcript.words) == len(tr.words) - 1
    s.history.undo()
    assert doc.transcript == tr and doc.animation.equals(before)


def test_a_word_is_inserted_in_a_pause_only(demo):
    clip, tr = demo
    gaps = [(tr.words[k][2], tr.words[k + 1][1]) for k in range(len(tr.words) - 1)
            if tr.words[k + 1][1] - tr.words[k][2] > 0.08]
    assert gaps
    a, b = gaps[0]
    edit = insert_word(tr, clip, (a + b) / 2, "well")
    new = edit.transcript
    assert len(new.words) == len(tr.words) + 1 and any(w[0] == "well" and a <= w[1] for w in new.words)
    k = next(j for j, w in enumerate(new.words) if w[0] == "well")
    before_w, after_w = tr.words[k - 1][0], tr.words[k][0]
    assert " ".join(re.findall(r"[\w']+", new.text.lower())).count(f"{before_w} well {after_w}") == 1
    assert new.text[0].isupper() and new.text.rstrip().endswith(tr.text.rstrip()[-1])  # the rest as typed
    assert edit.label == "insert word 'well'"
    with pytest.raises(TranscriptError, match="word here already"):
        insert_word(tr, clip, (tr.words[0][1] + tr.words[0][2]) / 2, "well")


def test_a_new_word_fills_its_span_unless_the_aligner_finds_a_pause(monkeypatch):
    """pocketsphinx, given only a word's stretch of audio, may leave slivers of silence at its edges
    (a walkthrough on a noisy recording: "a" re-inserted where it had been took 30 ms of 110, too thin
    to see in the lane); under EDGE_PAUSE_S they are the word's, a longer pause stays a pause."""
    from diface_editor.engine import transcript_edits as te
    from diface_editor.synth import align as al

    class Aligned:
        words = (("a", 0.04, 0.07),)
        phones = (("SIL", 0.0, 0.04), ("AH", 0.04, 0.07), ("SIL", 0.07, 0.11))

    monkeypatch.setattr(al, "align", lambda *a, **k: Aligned)
    clip = FakeClip(1.0)
    ws, ps = te.word_phones(clip, 0.27, 0.38, "a")
    assert ws == (("a", 0.27, 0.38),) and ps == (("AH", 0.27, 0.38),)
    Aligned.words, Aligned.phones = (("a", 0.09, 0.11),), (("SIL", 0.0, 0.09), ("AH", 0.09, 0.11))
    ws, ps = te.word_phones(clip, 0.27, 0.38, "a")
    assert ws[0][1] == pytest.approx(0.36) and ws[0][2] == pytest.approx(0.38)  # a 90 ms pause before it stays


# ---------------------------------------------------------------------- the lane on screen
def _long_transcript(minutes: float = 10.0) -> Transcript:
    """A transcript over ``minutes``: a 0.4 s word of four phones every 0.5 s."""
    words, phones, t = [], [], 0.0
    end = minutes * 60
    while t + 0.5 <= end:
        words.append(("word", t, t + 0.4))
        phones += [(p, t + 0.1 * k, t + 0.1 * (k + 1)) for k, p in enumerate(("W", "ER", "D", "Z"))]
        phones.append(("SIL", t + 0.4, t + 0.5))
        t += 0.5
    return Transcript(" ".join(w for w, _a, _b in words), tuple(words), tuple(phones))


def _timeline_on_a_long_take(qtbot):
    """(timeline widget, document): a shown timeline on 10 minutes of silence with :func:`_long_transcript`."""
    pytest.importorskip("PySide6")
    from diface_editor.gui.timeline.widget import TimelineWidget

    w = TimelineWidget()
    qtbot.addWidget(w)
    w.resize(1000, 420)
    w.show()
    tr = _long_transcript(10.0)
    doc = Document.from_audio(AudioClip.from_array(np.zeros(600 * 8000, np.float32), 8000), fps=FPS, transcript=tr)
    w.set_document(doc)
    return w, doc


def test_phones_are_hidden_at_low_zoom_and_only_what_is_in_view_is_drawn(qtbot):
    w, doc = _timeline_on_a_long_take(qtbot)
    w.view_all()
    w.grab()  # paints
    lane = w.lane
    assert not lane.phones_visible() and lane.drawn["phones"] == 0  # ten minutes: phones too small to read
    assert lane.drawn["word_labels"] == 0  # and words too narrow to label: merged runs, no block each
    assert lane.drawn["words"] == 0
    w.set_visible_range(100.0, 104.0)
    w.grab()
    assert lane.phones_visible()
    assert 0 < lane.drawn["words"] <= 9 and lane.drawn["word_labels"] == lane.drawn["words"]  # only those in view
    assert 0 < lane.drawn["phones"] <= 36 and lane.drawn["phone_labels"] > 0
    doc.set_transcript(None)
    w.grab()
    assert lane.transcript is None and lane.drawn["words"] == 0


def test_hovering_a_word_or_phone_names_it_and_its_times(qtbot):
    """A short block's label is cut or hidden; its tooltip gives the whole label and times (a pause: none)."""
    w, doc = _timeline_on_a_long_take(qtbot)
    from PySide6 import QtCore

    w.set_visible_range(100.0, 104.0)
    w.grab()
    lane = w.lane
    assert lane.phones_visible()
    assert lane.tooltip_at(QtCore.QPointF(100.2, 0.75)) == "word  100.00-100.40 s"  # the words' row (top)
    assert lane.tooltip_at(QtCore.QPointF(100.15, 0.25)) == "ER  100.10-100.20 s"  # the phones' row
    assert lane.tooltip_at(QtCore.QPointF(100.45, 0.75)) == "" and lane.tooltip_at(QtCore.QPointF(100.45, 0.25)) == ""
    doc.set_transcript(None)
    w.grab()
    assert lane.tooltip_at(QtCore.QPointF(100.2, 0.75)) == ""


# ---------------------------------------------------------------------- the lane in the editor
@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory, rig, speech, bundle):
    """The editor on 3 s of speech with the tiny model, a generated take and the "bob may buy" transcript."""
    pytest.importorskip("vispy")
    from _gui_support import close_window, editor_env, new_window

    tmp = tmp_path_factory.mktemp("lane")
    with pytest.MonkeyPatch.context() as mp:
        editor_env(mp, tmp)
        w = new_window(rig, engine_kwargs={"preview_interval": 0.0})
        w.resize(1200, 800)
        w.show()
        assert w.open_path(speech)
        w.doc.set_model_id(str(bundle))
        w.panel.influence.setValue(RADIUS)
        w.panel.interactive_steps.setValue(2)
        applied = []
        w.bridge.result_applied.connect(applied.append)
        w.generate()
        end = time.monotonic() + 60
        while not applied and time.monotonic() < end:
            qapp.processEvents()
            time.sleep(0.005)
        assert applied, "the first generation did not finish"
        w.undo_stack.push_command(SetTranscript(_bob(), "set transcript"))
        yield w
        close_window(w)


def test_dragging_a_phone_boundary_in_the_lane_is_one_undo_step(window, qtbot):
    from diface_editor.gui.timeline.synthetic import SyntheticDrag

    w = window
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=60_000)
    w.timeline.set_visible_range(0.0, 2.0)
    w.timeline.grab()
    lane = w.timeline.lane
    assert lane.phones_visible()
    before, tr0, n_undo = w.doc.animation.copy(), w.doc.transcript, w.undo_stack.index()
    x = lane.boundary_time("phones", 5, "end")  # M|EY of "may", 0.78 s
    grab = (x + 0.004, 0.25)  # a little off the boundary: the offset is kept
    ev = SyntheticDrag(grab, grab, start=True)
    lane.mouseDragEvent(ev)
    assert ev.accepted
    lane.mouseDragEvent(SyntheticDrag(grab, (0.745, 0.25)))
    assert w.doc.transcript == tr0 and w.undo_stack.index() == n_undo  # nothing committed while dragging
    with qtbot.waitSignal(w.bridge.result_applied, timeout=60_000):
        lane.mouseDragEvent(SyntheticDrag(grab, (0.744, 0.25), finish=True))
    assert w.doc.transcript.phones[5][2] == pytest.approx(0.74)
    assert w.undo_stack.index() == n_undo + 1 and w.undo_stack.text(w.undo_stack.index() - 1) == "retime phone 'M'"
    rows = _changed_rows(w.doc.animation, before)
    assert rows.size and rows.min() >= 21 - RADIUS and rows.max() <= 29 + RADIUS
    w.undo_action.trigger()
    assert w.doc.transcript == tr0 and w.doc.animation.equals(before)


def test_a_drag_that_leaves_the_widget_stops_at_the_neighbour(window, qtbot):
    from diface_editor.gui.timeline.synthetic import SyntheticDrag

    w = window
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=60_000)
    w.timeline.set_visible_range(0.0, 2.0)
    view = w.timeline.wave_vb.viewRange()[0]
    lane = w.timeline.lane
    tr0 = w.doc.transcript
    x = lane.boundary_time("words", 0, "end")  # "bob" ends in a pause: not shared
    grab = (x, 0.75)
    lane.mouseDragEvent(SyntheticDrag(grab, grab, start=True))
    for far in (5.0, 50.0, 500.0):  # far right of the widget: the view does not run away
        lane.mouseDragEvent(SyntheticDrag(grab, (far, 0.75)))
        assert w.timeline.wave_vb.viewRange()[0] == view
    with qtbot.waitSignal(w.bridge.result_applied, timeout=60_000):
        lane.mouseDragEvent(SyntheticDrag(grab, (500.0, -3.0), finish=True))
    assert w.doc.transcript.words[0][2] == pytest.approx(0.7)  # at the next word's start, not beyond
    w.undo_action.trigger()
    assert w.doc.transcript == tr0


def test_the_selected_word_stays_selected_when_words_before_it_come_and_go(window, qtbot):
    """A walkthrough: after a word was inserted before the selected one, the highlight (and Del) moved
    to its neighbour."""
    w = window
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=60_000)
    with qtbot.waitSignal(w.bridge.result_applied, timeout=60_000):
        w.delete_word(0)
    assert [x[0] for x in w.doc.transcript.words] == ["may", "buy"]
    w.timeline.lane.select_word(1)  # "buy"
    w.undo_action.trigger()  # "bob" is back in front of it
    assert w.timeline.lane.selected_word == 2
    with qtbot.waitSignal(w.bridge.result_applied, timeout=60_000):
        w.actions_by_name["delete_keys"].trigger()
    assert [x[0] for x in w.doc.transcript.words] == ["bob", "may"]
    w.undo_action.trigger()
    assert [x[0] for x in w.doc.transcript.words] == ["bob", "may", "buy"]


def test_del_deletes_the_selected_word_and_a_text_edit_aligns_it_again(window, qtbot):
    w = window
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=60_000)
    tr0, n_undo = w.doc.transcript, w.undo_stack.index()
    w.timeline.lane.select_word(1)
    with qtbot.waitSignal(w.bridge.result_applied, timeout=60_000):
        w.actions_by_name["delete_keys"].trigger()
    assert [x[0] for x in w.doc.transcript.words] == ["bob", "buy"] and w.undo_stack.index() == n_undo + 1
    assert w.timeline.lane.selected_word is None
    w.undo_action.trigger()
    assert w.doc.transcript == tr0
    dlg = w.word_text_dialog(2)
    assert dlg is not None and dlg.textValue() == "buy"
    dlg.setTextValue("pie")
    with qtbot.waitSignal(w.bridge.result_applied, timeout=60_000):
        dlg.accept()
    assert w.doc.transcript.words[2][0] == "pie" and w.undo_stack.index() == n_undo + 1
    assert "P" in [p[0] for p in w.doc.transcript.phones if 1.5 <= p[1] < 1.9]
    w.undo_action.trigger()
    assert w.doc.transcript == tr0
