"""engine layer of diface: jobs on a worker thread or in a child process (no Qt).

Modules:

* :mod:`.requests`: ``GenerateRequest``, ``EditRequest`` (modes ``"range"``, ``"keyframes"``,
  ``"swap"``), ``VariantsRequest`` (frozen dataclasses).
* :mod:`.worker`: ``Engine(model, encoder=None, on_event=None)`` with ``submit(request, doc_version)
  -> job_id``, ``cancel()``, ``events`` (a ``queue.Queue``), ``shutdown(timeout)``, ``run_sync(request)``
  and the cached ``features(audio, n_frames)``.
* :mod:`.api`: ``JobEngine``, the one engine interface, and ``make_engine(mode, model_path, ...)``;
  :mod:`.threaded`: ``ThreadEngine`` (loads the model on a helper thread, an in-process ``Engine``);
  :mod:`.process`: ``ProcessEngine(model_path, on_event=None, on_load=None)``: a real ``Engine`` in a
  child process (the editor's default; the GUI process never runs torch), :mod:`.wire` its messages.
* :mod:`.session`: ``EditSession(document, engine)``: the edit behaviour (request builders, the
  influence-window rule, seeds, job kinds, pending variants, which result is applied), without Qt.
* :mod:`.events`: ``JobStarted``, ``JobProgress``, ``JobResult``, ``JobFailed``, ``JobCancelled``.
* :mod:`.windows`: window planning for long clips and local edits, the window driver, and the
  seam-smoothness metric (``seam_smoothness``, ``seam_report``).
* :mod:`.jobs`: request -> per-part plans -> result (the one code path of submit and run_sync).
* :mod:`.backend`: the ``WindowModel`` interface the engine needs; :mod:`.motion_adapter` implements
  it for ``ml.bundle.MotionModel`` (``as_window_model``); :mod:`.loading`: ``load_model(path=None)``,
  the one model loader.
* :mod:`.batch`: batch generation over a folder (used by ``diface render``/export).
"""
