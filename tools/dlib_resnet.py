"""dlib's face embedding ResNet, converted to ONNX so it runs fast on a CPU.

The ``dlib-bin`` wheel is built without BLAS, so its convolutions run on dlib's own matrix code
at 100-140 ms per face on a laptop core. The same network in onnxruntime takes a few ms. This
module reads ``dlib_face_recognition_resnet_model_v1.dat`` (shipped by face-recognition-models)
with a pure-Python reader of dlib's serialisation format, rebuilds the network as an ONNX graph
and caches it under ``FACELENS_HOME/models``. Nothing is downloaded and no weights are
redistributed: the conversion runs once, on the user's machine, from the user's copy of the file.

The graph reproduces dlib exactly, including its quirks: stride-2 convolutions without padding,
and residual sums of tensors of different sizes (dlib zero-pads the smaller one). The test suite
checks that embeddings match dlib's own to 1e-4.

Network (dlib's ``dnn_face_recognition_ex.cpp``)::

    input_rgb_image_sized<150>  ->  con<32,7,7,2,2>  affine  relu  max_pool<3,3,2,2>
    alevel4: 3 x ares<32>        alevel3: ares_down<64>  + 3 x ares<64>
    alevel2: ares_down<128> + 2 x ares<128>   alevel1: ares_down<256> + 2 x ares<256>
    alevel0: ares_down<256>   ->  avg_pool_everything  ->  fc_no_bias<128>  (loss_metric)
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

from facelens.tools.errors import ModelError

log = logging.getLogger(__name__)
_lock = threading.Lock()

CHIP_SIZE = 150
CHIP_PADDING = 0.25
#: bump when the graph construction changes so cached conversions are rebuilt
CONVERTER_VERSION = 1

# --- the architecture, in forward order --------------------------------------------------
# ("con", filters, kernel, stride) ("affine",) ("relu",) ("max_pool", k, s) ("avg_pool", k, s)
# ("tag", id) ("skip", id) ("add_prev", id) ("avg_pool_everything",) ("fc", outputs)


def _ares(n: int) -> list[tuple]:
    return [
        ("tag", 1),
        ("con", n, 3, 1),
        ("affine",),
        ("relu",),
        ("con", n, 3, 1),
        ("affine",),
        ("add_prev", 1),
        ("relu",),
    ]


def _ares_down(n: int) -> list[tuple]:
    return [
        ("tag", 1), ("con", n, 3, 2), ("affine",), ("relu",), ("con", n, 3, 1), ("affine",),
        ("tag", 2), ("skip", 1), ("avg_pool", 2, 2), ("add_prev", 2), ("relu",),
    ]  # fmt: skip


def architecture() -> list[tuple]:
    """The face embedding ResNet as a list of layers from input to output."""
    layers: list[tuple] = [("con", 32, 7, 2), ("affine",), ("relu",), ("max_pool", 3, 2)]
    layers += _ares(32) * 3
    layers += _ares_down(64) + _ares(64) * 3
    layers += _ares_down(128) + _ares(128) * 2
    layers += _ares_down(256) + _ares(256) * 2
    layers += _ares_down(256)
    layers += [("avg_pool_everything",), ("fc", 128)]
    return layers


# --- dlib's serialisation format ---------------------------------------------------------


class _Reader:
    """Reads dlib's ``serialize()`` encoding: packed ints, strings, float_details, tensors."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.s = stream
        self.name = name

    def fail(self, what: str) -> ModelError:
        return ModelError(
            f"{self.name} is not a dlib face embedding network ({what}, at byte {self.s.tell()}).",
            hint="Reinstall face-recognition-models, or set embedder: dlib in config.yaml to use dlib directly.",
        )

    def take(self, n: int) -> bytes:
        b = self.s.read(n)
        if len(b) != n:
            raise self.fail("the file ends early")
        return b

    def integer(self) -> int:
        control = self.take(1)[0]
        size, negative = control & 0x0F, control & 0x80
        if size > 8 or control & 0x70:
            raise self.fail(f"bad integer control byte {control:#x}")
        value = int.from_bytes(self.take(size), "little") if size else 0
        return -value if negative else value

    def string(self) -> str:
        n = self.integer()
        if not 0 <= n < 256:
            raise self.fail(f"implausible string length {n}")
        return self.take(n).decode("latin-1")

    def boolean(self) -> bool:
        ch = self.take(1)
        if ch not in (b"0", b"1"):
            raise self.fail("bad boolean")
        return ch == b"1"

    def real(self) -> float:
        if self.s.peek(1)[:1] and self.s.peek(1)[0] & 0x70:  # type: ignore[attr-defined]
            raise self.fail("old ASCII floating point format")
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= 32000:
            return float("inf") if exponent == 32000 else float("-inf") if exponent == 32001 else float("nan")
        return float(mantissa) * 2.0**exponent

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise self.fail("unexpected tensor version")
        shape = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in shape) or int(np.prod(shape)) > 50_000_000:
            raise self.fail(f"implausible tensor shape {shape}")
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), dtype="<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, ...]:
        if self.integer() != 1:
            raise self.fail("unexpected alias_tensor version")
        return tuple(self.integer() for _ in range(4))

    def expect(self, *versions: str) -> str:
        v = self.string()
        if v not in versions:
            raise self.fail(f"expected {' or '.join(versions)}, found '{v}'")
        return v


@dataclass
class DlibResnet:
    """The weights of the embedding network, in forward order (one entry per layer)."""

    layers: list[tuple]
    params: list[dict[str, np.ndarray]] = field(default_factory=list)
    input_mean: tuple[float, float, float] = (122.782, 117.001, 104.298)


def _read_details(r: _Reader, layer: tuple) -> dict[str, np.ndarray]:
    kind = layer[0]
    if kind == "con":
        version = r.expect("con_4", "con_5", "con_6")
        params = r.tensor().reshape(-1)
        filters, kernel, stride = layer[1], layer[2], layer[3]
        num_filters, nr, nc, sy, sx = r.integer(), r.integer(), r.integer(), r.integer(), r.integer()
        r.integer(), r.integer()  # padding: dlib's default, implied by the stride
        fshape, bshape = r.alias(), r.alias()
        for _ in range(4):
            r.real()  # learning-rate and weight-decay multipliers
        use_bias = r.boolean() if version in ("con_5", "con_6") else True
        if version == "con_6" and r.boolean():
            raise r.fail("a convolution with a fused relu")
        if (num_filters, nr, nc, sy, sx) != (filters, kernel, kernel, stride, stride):
            raise r.fail(f"convolution {(num_filters, nr, nc, sy, sx)} where {layer} was expected")
        nw = int(np.prod(fshape))
        w = params[:nw].reshape(fshape)
        b = params[nw : nw + int(np.prod(bshape))] if use_bias else np.zeros(num_filters, np.float32)
        if w.shape[0] != filters or b.size != filters:
            raise r.fail(f"convolution weights of shape {w.shape}")
        return {"w": w, "b": b}
    if kind == "affine":
        v = r.expect("bn_con2", "affine_", "affine_2")
        if v == "bn_con2":  # a batch-norm layer saved from training: fold its running statistics
            params = r.tensor().reshape(-1)
            gshape, _ = r.alias(), r.alias()
            _means, _invstds, running_means, running_vars = (r.tensor().reshape(-1) for _ in range(4))
            r.integer(), r.integer()  # num_updates, running_stats_window_size
            for _ in range(4):
                r.real()
            eps = r.real()
            k = int(np.prod(gshape))
            gamma = params[:k] / np.sqrt(running_vars + eps)
            return {"gamma": gamma, "beta": params[k : 2 * k] - gamma * running_means}
        params = r.tensor().reshape(-1)
        gshape, bshape = r.alias(), r.alias()
        r.integer()  # mode
        if v == "affine_2":
            r.boolean()  # disabled
        k = int(np.prod(gshape))
        return {"gamma": params[:k], "beta": params[k : k + int(np.prod(bshape))]}
    if kind == "relu":
        if r.expect("relu_", "relu_2") == "relu_2":
            r.boolean()
        return {}
    if kind in ("max_pool", "avg_pool", "avg_pool_everything"):
        r.expect("max_pool_2" if kind == "max_pool" else "avg_pool_2")
        dims = [r.integer() for _ in range(6)]
        want = (0, 0, 1, 1) if kind == "avg_pool_everything" else (layer[1], layer[1], layer[2], layer[2])
        if tuple(dims[:4]) != want:
            raise r.fail(f"pooling {dims[:4]} where {want} was expected")
        return {}
    if kind == "add_prev":
        r.expect("add_prev_")
        return {}
    if kind == "fc":
        r.expect("fc_2", "fc_3")
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor().reshape(-1)
        wshape, _ = r.alias(), r.alias()
        if int(np.prod(wshape)) != inputs * outputs or params.size < inputs * outputs:
            raise r.fail(f"fully connected weights of shape {wshape}")
        if r.integer() != 1:  # FC_NO_BIAS
            raise r.fail("fully connected layer with a bias")
        for _ in range(4):
            r.real()
        if outputs != layer[1]:
            raise r.fail(f"{outputs} outputs where {layer[1]} were expected")
        return {"w": params[: inputs * outputs].reshape(inputs, outputs)}
    raise AssertionError(kind)


def _skip_trailer(r: _Reader, version: int, *, over_input: bool) -> None:
    """The bookkeeping dlib writes after a layer's details (flags and empty gradient tensors)."""
    r.boolean(), r.boolean(), r.boolean()
    r.tensor(), r.tensor()  # x_grad, cached_output
    if over_input:
        r.tensor()  # grad_final
        if version >= 3:
            r.integer()  # sample expansion factor
    elif version == 2:
        r.tensor()  # params_grad


def read_dlib_resnet(path: str | os.PathLike[str]) -> DlibResnet:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat`` into numpy weights.

    Raises:
        ModelError: the file is missing, truncated, or not this network.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"dlib model file not found: {p}.", hint="Reinstall face-recognition-models.")
    layers = architecture()
    with open(p, "rb") as fh:  # a BufferedReader: the reader peeks at float control bytes
        r = _Reader(fh, str(p))
        if r.integer() != 1:
            raise r.fail("no loss layer header")
        if r.expect("loss_metric_", "loss_metric_2") == "loss_metric_2":
            r.real(), r.real()
        # outer to inner: one version number per layer (add_layer, tag and skip alike)
        versions: list[int] = [0] * len(layers)
        for i in range(len(layers) - 1, 0, -1):
            versions[i] = r.integer()
            if layers[i][0] in ("tag", "skip") and versions[i] != 1:
                raise r.fail(f"{layers[i][0]} layer version {versions[i]}")
        versions[0] = r.integer()
        r.expect("input_rgb_image_sized", "input_rgb_image")
        mean = (r.real(), r.real(), r.real())
        if r.integer() != CHIP_SIZE or r.integer() != CHIP_SIZE:
            raise r.fail("input size is not 150 x 150")
        net = DlibResnet(layers=layers, input_mean=mean)
        # inner to outer: each layer's details and its trailer
        for i, layer in enumerate(layers):
            if layer[0] in ("tag", "skip"):
                net.params.append({})
                continue
            net.params.append(_read_details(r, layer))
            _skip_trailer(r, versions[i], over_input=(i == 0))
        if r.s.read(1):
            raise r.fail("unexpected data after the network")
    return net


# --- the ONNX graph ----------------------------------------------------------------------


def build_onnx(net: DlibResnet) -> bytes:
    """The network as a serialised ONNX model.

    Input ``chips``: float32 ``[N, 150, 150, 3]`` RGB in 0..255 (dlib's aligned face chips).
    Output ``embeddings``: float32 ``[N, 128]``, the same vectors dlib computes.
    Each affine (frozen batch-norm) layer is folded into the convolution before it.
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:  # pragma: no cover - onnx is a core dependency
        from facelens.tools.errors import missing_dependency

        raise missing_dependency("onnx", why="the fast face embedder") from exc

    nodes: list = []
    inits: list = []
    counter = iter(range(1_000_000))

    def name(prefix: str) -> str:
        return f"{prefix}_{next(counter)}"

    def const(arr: np.ndarray, prefix: str = "c") -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def op(kind: str, inputs: list[str], **attrs: object) -> str:
        out = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    mean = np.asarray(net.input_mean, np.float32).reshape(1, 3, 1, 1)
    x = op("Transpose", ["chips"], perm=[0, 3, 1, 2])
    x = op("Mul", [op("Sub", [x, const(mean, "mean")]), const(np.float32(1 / 256.0), "scale")])
    shape = (3, CHIP_SIZE, CHIP_SIZE)  # C, H, W as dlib computes them
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    layers, params = net.layers, net.params
    i = 0
    while i < len(layers):
        layer, p = layers[i], params[i]
        kind = layer[0]
        if kind == "con":
            _, filters, k, stride = layer
            w, b = p["w"], p["b"]
            if i + 1 < len(layers) and layers[i + 1][0] == "affine":
                g, beta = params[i + 1]["gamma"], params[i + 1]["beta"]
                w, b = w * g[:, None, None, None], b * g + beta
                i += 1
            pad = 0 if stride != 1 else k // 2
            x = op("Conv", [x, const(w.astype(np.float32), "w"), const(b.astype(np.float32), "b")],
                   kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)  # fmt: skip
            side = lambda n: 1 + (n + 2 * pad - k) // stride  # noqa: E731, B023 - used at once, in this iteration
            shape = (filters, side(shape[1]), side(shape[2]))
        elif kind == "affine":
            g, beta = p["gamma"].reshape(1, -1, 1, 1), p["beta"].reshape(1, -1, 1, 1)
            x = op("Add", [op("Mul", [x, const(g)]), const(beta)])
        elif kind == "relu":
            x = op("Relu", [x])
        elif kind in ("max_pool", "avg_pool"):
            _, k, stride = layer
            x = op(
                "MaxPool" if kind == "max_pool" else "AveragePool", [x], kernel_shape=[k, k], strides=[stride, stride]
            )
            side = lambda n: 1 + (n - k) // stride  # noqa: E731, B023 - used at once, in this iteration
            shape = (shape[0], side(shape[1]), side(shape[2]))
        elif kind == "tag":
            tags[layer[1]] = (x, shape)
        elif kind == "skip":
            x, shape = tags[layer[1]]
        elif kind == "add_prev":
            other, oshape = tags[layer[1]]
            out = tuple(max(a, b) for a, b in zip(shape, oshape))
            padded = []
            for t, s in ((x, shape), (other, oshape)):
                if s != out:  # dlib adds tensors of different sizes by zero-padding the smaller
                    pads = [0, 0, 0, 0, 0, out[0] - s[0], out[1] - s[1], out[2] - s[2]]
                    t = op("Pad", [t, const(np.asarray(pads, np.int64), "pads")])
                padded.append(t)
            x, shape = op("Add", padded), out
        elif kind == "avg_pool_everything":
            x = op("Flatten", [op("GlobalAveragePool", [x])])
            shape = (shape[0], 1, 1)
        elif kind == "fc":
            x = op("MatMul", [x, const(p["w"].astype(np.float32), "fc")])
        else:  # pragma: no cover
            raise AssertionError(kind)
        i += 1
    nodes.append(helper.make_node("Identity", [x], ["embeddings"]))
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["N", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", 128])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facelens")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def converted_path(source: str | os.PathLike[str]) -> Path:
    """Where the ONNX conversion of ``source`` is cached (keyed by the source's content)."""
    from facelens.tools.config import subdir

    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]
    return subdir("models") / f"dlib_face_resnet_{digest}_v{CONVERTER_VERSION}.onnx"


def convert(source: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None) -> Path:
    """Convert dlib's network file to ONNX once; later calls return the cached file."""
    out = Path(dest) if dest is not None else converted_path(source)
    with _lock:
        if out.is_file():
            return out
        log.info("converting dlib's face embedding network to ONNX (once): %s", out)
        data = build_onnx(read_dlib_resnet(source))
        out.parent.mkdir(parents=True, exist_ok=True)
        from facelens.tools.atomic import write_sealed

        write_sealed(out, data, sealed=False, mode=0o644)  # atomic: a crash never leaves a half-written model behind
    return out


class OnnxFaceEncoder:
    """dlib's face embedding network run by onnxruntime; same vectors, a fraction of the time."""

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        from facelens.tools.onnx_runtime import onnxruntime, session_options

        ort = onnxruntime()

        opts = session_options(ort)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(
                f"Could not load the converted face embedder {model_path}: {exc}",
                hint="Delete it (facelens cache clear) and it is rebuilt from dlib's file.",
            ) from exc
        self.path = Path(model_path)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Embeddings of aligned 150 x 150 RGB face chips (N x 150 x 150 x 3) as N x 128 float32."""
        chips = np.asarray(chips)
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ModelError(f"face chips must be N x {CHIP_SIZE} x {CHIP_SIZE} x 3, not {chips.shape}.")
        if len(chips) == 0:
            return np.zeros((0, 128), np.float32)
        out = self.session.run(["embeddings"], {"chips": chips.astype(np.float32, copy=False)})[0]
        return np.asarray(out, dtype=np.float32)


@cache
def onnx_face_encoder(source: str) -> OnnxFaceEncoder:
    """The ONNX embedder for a dlib network file, converting it on first use.

    A cached conversion that no longer loads (a damaged file) is rebuilt once from the source.
    """
    path = convert(source)
    try:
        return OnnxFaceEncoder(path)
    except ModelError:
        log.warning("the cached face embedder %s is damaged; converting again", path)
        path.unlink(missing_ok=True)
        return OnnxFaceEncoder(convert(source))
