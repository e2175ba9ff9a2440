"""One callable per peer: ``infer(native_input) -> outputs in the contract's order``.

Every runner takes the same NHWC float32 0..255 batch (what the Keras model takes) through
:meth:`prepare` into its own native input once, outside the timed call, so timing compares the
engines and not layout copies. Outputs come back in the contract's ``output_names`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.bench.backends import Unsupported, opencv_reason
from edgeimg.runtime.errors import EdgeimgError


@dataclass(frozen=True)
class PeerSpec:
    """A row of the peers table: engine, precision, threads, and any note on what it runs."""

    engine: str
    precision: str
    threads: int
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.engine} {self.precision} t{self.threads}"


class Runner:
    """Base of the peers: ``prepare`` (untimed) then ``infer`` (timed)."""

    spec: PeerSpec
    max_batch: int | None = None  # None: any batch

    def prepare(self, batch_nhwc: np.ndarray) -> Any:
        return np.ascontiguousarray(batch_nhwc, dtype=np.float32)

    def infer(self, native: Any) -> list[np.ndarray]:
        raise NotImplementedError

    def activate(self) -> None:
        """Per-block setup before timed calls (OpenCV's process-wide thread count)."""


class KerasRunner(Runner):
    """``model(x, training=False)`` per call, the way a Keras user runs a frame."""

    def __init__(self, model: Any, output_names: tuple[str, ...], threads: int) -> None:
        self.model = model
        self.names = output_names
        self.keras_names = tuple(model.output_names)
        self.spec = PeerSpec("keras/tensorflow", "fp32", threads, "model(x) per call, eager")

    def infer(self, native: Any) -> list[np.ndarray]:
        out = self.model(native, training=False)
        if isinstance(out, dict):
            return [np.asarray(out[n]) for n in self.names]
        if not isinstance(out, (list, tuple)):
            return [np.asarray(out)]
        if set(self.keras_names) == set(self.names):
            by_name = dict(zip(self.keras_names, out, strict=True))
            return [np.asarray(by_name[n]) for n in self.names]
        return [np.asarray(o) for o in out]


class LiteRTRunner(Runner):
    """An ``ai_edge_litert`` interpreter (XNNPACK on CPU), batch 1; INT8 I/O is (de)quantized
    in numpy inside the timed call, so INT8 rows pay for it like onnxruntime's QDQ nodes do."""

    max_batch = 1

    def __init__(
        self,
        flatbuffer: bytes,
        signature_names: dict[str, str],
        output_names: tuple[str, ...],
        threads: int,
        precision: str,
    ) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
        self.interpreter.allocate_tensors()
        # Output tensor index of each contract output, from the signature's names.
        full = self.interpreter._get_full_signature_list()  # name -> {"inputs": {}, "outputs": {}}
        signature = next(iter(full.values()))
        outputs = {signature_names.get(k, k): v for k, v in signature["outputs"].items()}
        inputs = signature["inputs"]
        missing = [n for n in output_names if n not in outputs]
        if missing:
            raise Unsupported(f"LiteRT model lacks outputs {missing}; has {sorted(outputs)}")
        self.input_index = next(iter(inputs.values()))
        detail = {d["index"]: d for d in self.interpreter.get_tensor_details()}
        self.input_detail = detail[self.input_index]
        self.output_details = [detail[outputs[n]] for n in output_names]
        self.spec = PeerSpec("litert", precision, threads, "XNNPACK, batch 1")

    def prepare(self, batch_nhwc: np.ndarray) -> Any:
        return np.ascontiguousarray(batch_nhwc, dtype=np.float32)

    def infer(self, native: Any) -> list[np.ndarray]:
        d = self.input_detail
        if d["dtype"] != np.float32:
            scale, zero = d["quantization"]
            info = np.iinfo(d["dtype"])
            native = np.clip(np.rint(native / scale) + zero, info.min, info.max).astype(d["dtype"])
        self.interpreter.set_tensor(self.input_index, native)
        self.interpreter.invoke()
        out = []
        for o in self.output_details:
            value = self.interpreter.get_tensor(o["index"])
            if o["dtype"] != np.float32:
                scale, zero = o["quantization"]
                value = (value.astype(np.float32) - zero) * scale
            out.append(value)
        return out


class OrtRunner(Runner):
    """An onnxruntime session with edgeimg's settings: sequential, ``threads`` intra-op,
    optionally through a pre-bound IOBinding; an NCHW model gets its input transposed once."""

    def __init__(
        self,
        path: Path,
        threads: int,
        precision: str,
        io_binding: bool = False,
        engine: str = "onnxruntime",
        optimization: str = "all",
        spinning: bool | None = None,
    ) -> None:
        """optimization: graph optimization level (disable, basic, extended, all).
        spinning: ``session.intra_op.allow_spinning`` (None: onnxruntime's default, on)."""

        from edgeimg.runtime.backends.ort import CPU, open_session
        from edgeimg.runtime.contract import ModelContract

        try:  # spinning None: onnxruntime's own default, on
            self.session = open_session(
                path, [CPU], threads, optimization, True if spinning is None else spinning
            )
        except EdgeimgError as exc:
            raise Unsupported(str(exc)) from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.nchw = len(inp.shape) == 4 and inp.shape[1] in (1, 3) and inp.shape[3] not in (1, 3)
        self.names = [o.name for o in self.session.get_outputs()]
        metadata = self.session.get_modelmeta().custom_metadata_map
        try:
            self.contract: ModelContract | None = ModelContract.from_metadata(metadata)
        except EdgeimgError:  # not an edgeimg export: the caller's contract applies
            self.contract = None
        if self.contract is not None:  # outputs in the contract's order, as Model.infer gives
            self.names = [n for n in self.contract.output_names if n in self.names] or self.names
        self.io_binding = io_binding
        note = "IOBinding, pre-allocated outputs" if io_binding else "session.run"
        if optimization != "all":
            note += f", optimization {optimization}"
        if spinning is not None:
            note += f", spinning {'on' if spinning else 'off'}"
        self.spec = PeerSpec(
            engine, precision, threads, note + (", NCHW input" if self.nchw else "")
        )

    def prepare(self, batch_nhwc: np.ndarray) -> Any:
        x = batch_nhwc.transpose(0, 3, 1, 2) if self.nchw else batch_nhwc
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not self.io_binding:
            return x
        outputs = self.session.run(self.names, {self.input_name: x})
        binding = self.session.io_binding()
        binding.bind_cpu_input(self.input_name, x)
        buffers = [np.empty_like(o) for o in outputs]
        for name, buffer in zip(self.names, buffers, strict=True):
            binding.bind_output(
                name, "cpu", 0, buffer.dtype, list(buffer.shape), buffer.ctypes.data
            )
        return binding, buffers, x

    def infer(self, native: Any) -> list[np.ndarray]:
        if self.io_binding:
            binding, buffers, _ = native
            self.session.run_with_iobinding(binding)
            return buffers
        return self.session.run(self.names, {self.input_name: native})


class EdgeimgRunner(Runner):
    """edgeimg's own runtime: ``load_model(path).infer(tensor)``, what ``edgeimg track`` calls."""

    def __init__(
        self, path: Path, threads: int, precision: str, backend: str = "onnxruntime"
    ) -> None:
        from edgeimg.runtime.model import load_model

        self.model = load_model(path, backend=backend, device="cpu", threads=threads)
        if backend == "opencv":  # its batch-N classifier output is (N, 1, C): one at a time
            self.max_batch = 1
        self.nchw = self.model.contract.layout.value == "NCHW"
        self.threads, self.backend = threads, backend
        self.contract = self.model.contract
        note = "Model.infer" + (f", backend {backend}" if backend != "onnxruntime" else "")
        self.spec = PeerSpec("edgeimg runtime", precision, threads, note)

    def activate(self) -> None:
        if self.backend == "opencv":  # OpenCV's thread count is process-wide
            import cv2

            cv2.setNumThreads(self.threads)

    def prepare(self, batch_nhwc: np.ndarray) -> Any:
        x = batch_nhwc.transpose(0, 3, 1, 2) if self.nchw else batch_nhwc
        return np.ascontiguousarray(x, dtype=np.float32)

    def infer(self, native: Any) -> list[np.ndarray]:
        outputs = self.model.infer({self.model.input_name: native})
        return [outputs[name] for name in self.model.output_names]


class OpenCVRunner(Runner):
    """OpenCV dnn's own CPU backend, batch 1 (for batch N it returns edgeimg's classifier
    output as (N, 1, C) instead of (N, C), so accuracy runs frame by frame as it is timed)."""

    max_batch = 1

    def __init__(
        self, path: Path, threads: int, precision: str, output_names: tuple[str, ...]
    ) -> None:
        import cv2

        self.cv2 = cv2
        self.threads = threads
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise Unsupported(
                f"OpenCV dnn cannot import {path.name}: {opencv_reason(exc)}"
            ) from None
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        layers = list(self.net.getUnconnectedOutLayersNames())
        self.names = (
            [n for n in output_names if n in layers] if set(output_names) <= set(layers) else layers
        )
        from edgeimg.bench.backends import onnx_input_signature

        shape, _ = onnx_input_signature(path)
        self.nchw = len(shape) == 4 and shape[1] in (1, 3) and shape[3] not in (1, 3)
        self.spec = PeerSpec("opencv dnn", precision, threads, "DNN_BACKEND_OPENCV")

    def prepare(self, batch_nhwc: np.ndarray) -> Any:
        x = batch_nhwc.transpose(0, 3, 1, 2) if self.nchw else batch_nhwc
        return np.ascontiguousarray(x, dtype=np.float32)

    def activate(self) -> None:
        self.cv2.setNumThreads(self.threads)

    def infer(self, native: Any) -> list[np.ndarray]:
        self.net.setInput(native)
        try:
            return list(self.net.forward(self.names))
        except self.cv2.error as exc:
            raise Unsupported(f"OpenCV dnn cannot run the model: {opencv_reason(exc)}") from None


class TimedCall:
    """Adapts a runner and one prepared input to :class:`edgeimg.bench.harness.Workload`."""

    def __init__(self, runner: Runner, native: Any) -> None:
        self.runner, self.native = runner, native

    def activate(self) -> None:
        self.runner.activate()

    def __call__(self) -> object:
        return self.runner.infer(self.native)
