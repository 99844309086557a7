"""3DiFACE ``.npy`` files for the original environment (numpy 1.21-1.23) and ``diface export`` to ``.npy``."""

from __future__ import annotations

import pickle
import pickletools

import numpy as np
import pytest

from diface_editor.core.animation import Animation
from diface_editor.core.formats import load_animation, save_animation
from diface_editor.core.formats.npy3d import write_portable_npy


class _Numpy1Unpickler(pickle.Unpickler):
    """Resolves globals the way numpy 1.x can: ``numpy._core`` does not exist there."""

    def find_class(self, module, name):
        if module.startswith("numpy._core"):
            raise ModuleNotFoundError("No module named 'numpy._core'")
        return super().find_class(module, name)


def _pickle_globals(path) -> set[str]:
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        data = f.read()
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    assert not any(name == "STACK_GLOBAL" for name, _ in ops) or b"numpy._core" in data
    return {arg for name, arg in ops if name == "GLOBAL"} | ({"numpy._core"} if b"numpy._core" in data else set())


def _load_as_numpy1(path):
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        return _Numpy1Unpickler(f).load().item()


def test_portable_npy_names_only_numpy1_modules(tmp_path):
    d = {"vertice": np.arange(24, dtype=np.float32).reshape(2, 4, 3), "pose": np.ones((2, 3), np.float32)}
    p = tmp_path / "x.npy"
    write_portable_npy(p, d)
    names = _pickle_globals(p)
    assert not any("_core" in n for n in names), names
    # readable by numpy 2 (this environment) and by a numpy-1 resolver
    for got in (np.load(p, allow_pickle=True).item(), _load_as_numpy1(p)):
        assert set(got) == {"vertice", "pose"}
        for k in d:
            assert got[k].dtype == d[k].dtype and np.array_equal(got[k], d[k])
    # np.save under numpy 2 is what fails in the original environment
    q = tmp_path / "plain.npy"
    np.save(q, d, allow_pickle=True)
    if "numpy._core" in _pickle_globals(q):
        with pytest.raises(ModuleNotFoundError):
            _load_as_numpy1(q)


def test_export_arkit_take_to_npy(tmp_path, capsys):
    from diface_editor.cli.main import main

    rng = np.random.default_rng(0)
    anim = Animation(fps=30.0, face=rng.uniform(0, 0.6, (12, 52)).astype(np.float32),
                     head=rng.normal(0, 0.05, (12, 3)).astype(np.float32))
    save_animation(anim, tmp_path / "take.npz")
    assert main(["export", str(tmp_path / "take.npz"), str(tmp_path / "take.npy")]) == 0
    d = _load_as_numpy1(tmp_path / "take.npy")
    assert d["vertice"].shape[0] == 12 and d["vertice"].shape[2] == 3
    np.testing.assert_allclose(d["pose"], anim.head, atol=1e-7)


def test_export_vertex_take_with_template(tmp_path, capsys):
    from diface_editor.cli.main import main

    V = 7
    tmpl = np.random.default_rng(1).normal(0, 0.1, (V, 3)).astype(np.float32)
    np.save(tmp_path / "tmpl.npy", tmpl)
    off = np.random.default_rng(2).normal(0, 0.01, (5, 3 * V)).astype(np.float32)
    anim = Animation(fps=30.0, face=off, head=np.zeros((5, 3), np.float32), channel_names=(), space="vertex")
    save_animation(anim, tmp_path / "v.npz")
    assert main(["export", str(tmp_path / "v.npz"), str(tmp_path / "v.npy")]) != 0  # no template: an error
    assert "--template" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "v.npz"), str(tmp_path / "v.npy"), "--template",
                 str(tmp_path / "tmpl.npy")]) == 0
    d = _load_as_numpy1(tmp_path / "v.npy")
    np.testing.assert_allclose(d["vertice"], off.reshape(5, V, 3) + tmpl, atol=1e-6)
    back = load_animation(tmp_path / "v.npy", template=tmpl)
    np.testing.assert_allclose(back.face, off, atol=1e-6)
