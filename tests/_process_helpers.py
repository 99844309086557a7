"""Model loaders for the process-engine tests (not collected as tests). They run in the engine's
child process, so they are module-level functions (picklable by name) and torch-free.

``load_gp(spec)``: the Gaussian-process test model of ``_engine_fakes`` with options in ``spec``
(``"gp"``, ``"gp:delay=0.05"``, ``"gp:crash_steps=7"``, ``"gp:fail_load=1"``):

* ``delay``: seconds per sampler step;
* ``hold``: the first sampling call waits after one step until its job is cancelled (cancellation
  tests: the job can only end by being cancelled);
* ``crash_steps``: a request with this many steps kills the child process (SIGKILL, a crash);
* ``fail_load``: loading raises a user error, as a broken model bundle would.
"""

from __future__ import annotations

import os
import signal

from _engine_fakes import GPModel
from diface_editor.core.errors import DifaceError
from diface_editor.engine.backend import WindowSpec

SPEC = WindowSpec(window=96, overlap=24, context=16)
LOAD_ERROR = "The model bundle at gp is damaged: face.safetensors is missing."


class _CrashingGP(GPModel):
    def __init__(self, crash_steps: int, **kw) -> None:
        super().__init__(**kw)
        self.crash_steps = crash_steps

    def sample(self, part, features, known, known_mask, *, steps, **kw):
        if steps == self.crash_steps:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().sample(part, features, known, known_mask, steps=steps, **kw)


def options(spec: str) -> dict[str, float]:
    _, _, rest = spec.partition(":")
    return {k: float(v) for k, v in (item.split("=") for item in rest.split(",") if item)}


def make_gp(spec: str = "gp") -> GPModel:
    """The model ``load_gp(spec)`` loads, built here (for the in-thread reference engine)."""
    opts = options(spec)
    if opts.get("fail_load"):
        raise DifaceError(LOAD_ERROR)
    kw = {"spec": SPEC, "delay": opts.get("delay", 0.0), "hold": bool(opts.get("hold", 0))}
    if "crash_steps" in opts:
        return _CrashingGP(int(opts["crash_steps"]), **kw)
    return GPModel(**kw)


def load_gp(spec: str) -> GPModel:
    return make_gp(spec)
