"""``--backend auto``: the fastest installed backend x thread count, measured here for this model.

Every candidate (backend, threads) is timed on the same random input, first each alone (loaded,
timed, released), then the contenders among them (within 30 % of the best) loaded together and
interleaved in a few rounds so a noisy neighbour hits them all alike (about a quarter second
each by default); the lowest median wins. Only the contenders are ever in memory together: the
bundled detector's 12 configurations peaked at 330 MB all loaded side by side, 184 MB in the
two passes. The measurement is cached as JSON under ``<user cache>/choice``, keyed by the
model's SHA-256, this machine (CPU model and a hash of its flags), the library versions,
the device and the candidate list: a cache entry that differs in any of them is ignored and the
model is measured again. ``edgeimg bench MODEL --choose`` re-measures on demand.

Precision is chosen with the accuracy gate respected: ``MODEL.int8.onnx`` beside ``MODEL.onnx``
joins the candidates only when ``edgeimg quantize`` wrote it from that very file (its SHA-256 is
in the INT8 file's quantization record) and its accuracy held on held-out data within the
budget; its speed is measured here like every other candidate's. Candidates within
``TIE_MARGIN`` of the fastest count as a tie, settled for the model as given, then the
registry's backend order, then fewer threads (a measurement this short does not rank closer
figures, and a spare core serves the rest of the pipeline).

The model's time alone is not its time in the real-time loop, whose other stages (reading,
preprocessing, tracking, drawing, writing) need CPU too: after a run, :func:`remember_loop`
stores their milliseconds per frame beside the measurement, and from then on candidates rank
by ``max(ms, (loop_ms + threads x ms) / cpus)``, the model's time per frame when its threads
and the loop share the CPUs (on 2 CPUs a fast model then runs best on 1 thread).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edgeimg.runtime.backends import (
    BACKENDS,
    create_backend,
    installed_backend_names,
    read_model_info,
)
from edgeimg.runtime.backends.base import (
    Backend,
    Device,
    ModelInfo,
    check_model_file,
    user_cache_dir,
)
from edgeimg.runtime.backends.ort import has_cuda_provider
from edgeimg.runtime.contract import QUANTIZATION_KEY
from edgeimg.runtime.errors import EdgeimgError

log = logging.getLogger(__name__)

CACHE_VERSION = 2
TIE_MARGIN = 0.05  # candidates this close to the fastest are a tie
# measured alone first, candidates this close to the best go on to the interleaved measurement
CONTENDER_MARGIN = 1.3
FLOAT, INT8 = "FP32", "INT8"
# Packages whose version changes what a backend runs (not imported to read them).
LIBRARIES = (
    "edgeimg",
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
    "opencv-python-headless",
    "opencv-python",
    "openvino",
)


def _set_opencv_threads(threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)


# Backends whose thread count is process-wide rather than per model (cv2.setNumThreads): set
# again before each block of timed runs, so every candidate runs with its own count.
PROCESS_WIDE_THREADS: dict[str, Callable[[int], None]] = {"opencv": _set_opencv_threads}


@dataclass(frozen=True)
class Candidate:
    """One configuration to measure: a registered backend, its inference threads and which file
    (``FP32``: the model as given; ``INT8``: its gated INT8 sibling)."""

    backend: str
    threads: int
    precision: str = FLOAT

    def describe(self) -> str:
        threads = f"{self.threads} thread{'s' if self.threads > 1 else ''}"
        return f"{self.backend} {self.precision}, {threads}"


@dataclass(frozen=True)
class Measurement:
    """A candidate's median milliseconds per run, or why it could not run (milliseconds None)."""

    candidate: Candidate
    milliseconds: float | None
    runs: int = 0
    error: str = ""


@dataclass(frozen=True)
class ChoiceKey:
    """What a measurement holds for: the same model, machine, libraries, device and candidates."""

    model_sha256: str
    cpu: str
    cpu_flags_sha256: str
    versions: dict[str, str]
    device: str
    candidates: tuple[Candidate, ...]
    int8_sha256: str = ""  # the gated INT8 sibling measured beside the model ("": none)
    input_shape: tuple[int, ...] = ()  # the first input's shape it was timed on

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["candidates"] = [asdict(c) for c in self.candidates]
        out["input_shape"] = list(self.input_shape)  # as JSON reads it back
        return out

    @property
    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Choice:
    """The measurements of every candidate (fastest first) and where they came from."""

    key: ChoiceKey
    measurements: tuple[Measurement, ...]
    measured_at: str
    cached: bool = False
    path: Path | None = field(default=None, compare=False)
    files: Mapping[str, Path] = field(default_factory=dict, compare=False)
    loop_ms: float = 0.0  # the loop's other work per frame, from the last run (0: unknown)

    @property
    def best(self) -> Measurement:
        return self.measurements[0]

    @property
    def backend(self) -> str:
        return self.best.candidate.backend

    @property
    def threads(self) -> int:
        return self.best.candidate.threads

    @property
    def precision(self) -> str:
        return self.best.candidate.precision

    @property
    def model_path(self) -> Path | None:
        """The file the choice runs (the INT8 sibling when INT8 won)."""
        return self.files.get(self.precision)

    def describe(self) -> str:
        """``openvino INT8, 1 thread: 1.7 ms, chosen over onnxruntime INT8 3.9 ms, onnxruntime
        FP32 5.9 ms, ...``: every other backend x precision at its best thread count; then where
        the figures come from."""
        best = self.best
        others: dict[str, Measurement] = {}
        for m in self.measurements[1:]:
            name = f"{m.candidate.backend} {m.candidate.precision}"
            if name != f"{best.candidate.backend} {best.candidate.precision}":
                others.setdefault(name, m)
        parts = [
            f"{name} {format_ms(m.milliseconds)}"
            if m.milliseconds is not None
            else f"{name} failed"
            for name, m in others.items()
        ]
        over = f", chosen over {', '.join(parts)}" if parts else ""
        when = f"cached {self.measured_at[:16]}" if self.cached else "measured now"
        if self.loop_ms > 0:
            when += f"; ranked beside the loop's {self.loop_ms:.1f} ms of other work per frame"
        return f"{best.candidate.describe()}: {format_ms(best.milliseconds or 0.0)}{over} ({when})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": CACHE_VERSION,
            "key": self.key.to_dict(),
            "measured_at": self.measured_at,
            "loop_ms": self.loop_ms,
            "measurements": [
                {
                    **asdict(m.candidate),
                    "milliseconds": m.milliseconds,
                    "runs": m.runs,
                    "error": m.error,
                }
                for m in self.measurements
            ],
        }


def format_ms(ms: float) -> str:
    """``5.3 ms``, ``0.42 ms``, ``0.018 ms``: three significant figures at most, at least one
    decimal (a classifier's 18 microseconds is not ``0.0 ms``)."""
    decimals = 1 if ms >= 1 else 2 if ms >= 0.1 else 3
    return f"{ms:.{decimals}f} ms"


def model_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_signature(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, str]:
    """(CPU model, SHA-256 of its sorted flags): two machines with the same pair run the same
    kernels. Falls back to ``platform`` where there is no /proc/cpuinfo."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = cpuinfo.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and value.strip():
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    flag_text = " ".join(sorted(flags)) or platform.machine()
    return model, hashlib.sha256(flag_text.encode()).hexdigest()


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    """Python's and the installed versions of ``names`` (read from package metadata, nothing
    is imported; missing packages are left out)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(cpus: int | None = None) -> tuple[int, ...]:
    """1, half and all of the usable CPUs (at most three counts)."""
    n = max(1, cpus or usable_cpus())
    return tuple(sorted({1, max(1, n // 2), n}))


def candidates(
    backends: Sequence[str] | None = None,
    threads: Sequence[int] | None = None,
    precisions: Sequence[str] = (FLOAT,),
) -> tuple[Candidate, ...]:
    """backends (default: every installed one) x precisions x threads (default
    :func:`default_threads`)."""
    names = tuple(backends) if backends else installed_backend_names()
    for name in names:
        BACKENDS.get(name)  # an unknown name: one line listing the registered ones
    counts = tuple(threads) if threads else default_threads()
    if any(t < 1 for t in counts):
        raise EdgeimgError(f"threads: expected counts >= 1, got {', '.join(map(str, counts))}")
    return tuple(Candidate(name, t, p) for name in names for p in precisions for t in counts)


def int8_sibling(path: str | Path) -> Path | None:
    """``MODEL.int8.onnx`` beside ``path`` when ``edgeimg quantize`` wrote it from this very
    file and its accuracy held on held-out data; None otherwise (the reason logged)."""
    path = Path(path)
    sibling = path.with_name(f"{path.stem}.int8{path.suffix}")
    if not sibling.is_file():
        return None
    try:
        record = json.loads(read_model_info(sibling).metadata.get(QUANTIZATION_KEY, "null"))
    except (EdgeimgError, ValueError) as exc:
        log.info("--backend auto: ignoring %s: %s", sibling, exc)
        return None
    if not isinstance(record, dict) or record.get("source_sha256") != model_sha256(path):
        log.info("--backend auto: ignoring %s: not quantized from %s", sibling, path.name)
        return None
    accuracy = record.get("accuracy")
    if not isinstance(accuracy, dict) or accuracy.get("passed") is not True:
        log.info(
            "--backend auto: ignoring %s: its accuracy was not measured or missed its budget "
            "(edgeimg quantize ... --eval DATA)",
            sibling,
        )
        return None
    return sibling


def effective_device(device: Device | str) -> Device:
    """``auto`` as the backends read it here: CUDA when onnxruntime has it, else the CPU (so a
    measurement made with ``auto`` serves ``cpu`` on a machine without CUDA, and back)."""
    device = Device.parse(device)
    if device is Device.AUTO:
        return Device.CUDA if has_cuda_provider() else Device.CPU
    return device


def choice_key(
    path: str | Path,
    device: Device | str,
    options: Sequence[Candidate],
    int8: str | Path | None = None,
    input_shape: Sequence[int] = (),
) -> ChoiceKey:
    cpu, flags = cpu_signature()
    return ChoiceKey(
        model_sha256=model_sha256(path),
        cpu=cpu,
        cpu_flags_sha256=flags,
        versions=library_versions(),
        device=effective_device(device).value,
        candidates=tuple(options),
        int8_sha256=model_sha256(int8) if int8 is not None else "",
        input_shape=tuple(int(d) for d in input_shape),
    )


def random_feeds(
    info: ModelInfo, input_shape: Sequence[int | None] | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """A random tensor per input (pixels 0..255, dynamic dims 1; ``input_shape`` for the
    first input, its None dims falling back to the declared ones)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for index, spec in enumerate(info.inputs):
        shape = list(spec.shape)
        if index == 0 and input_shape is not None and len(input_shape) == len(shape):
            shape = [
                want if want is not None else got
                for want, got in zip(input_shape, shape, strict=True)
            ]
        dims = tuple(d or 1 for d in shape)
        feeds[spec.name] = rng.integers(0, 256, size=dims).astype(spec.dtype)
    return feeds


def measure(
    path: str | Path,
    options: Sequence[Candidate],
    device: Device | str = Device.CPU,
    feeds: Mapping[str, np.ndarray] | None = None,
    budget_s: float = 0.25,
    rounds: int = 5,
    warmup: int = 2,
    files: Mapping[str, Path] | None = None,
) -> list[Measurement]:
    """Median ms per run of every candidate; the chosen one first (see :func:`ranked`),
    failures last.

    Two passes, so that only the contenders are ever loaded side by side: first each candidate
    alone (loaded, ``warmup`` untimed runs, ``budget_s / rounds`` of timed runs, released),
    then the :func:`contenders` among them together, interleaved, about ``budget_s`` of timed
    runs each split over ``rounds`` (at least one run per round); a candidate left out keeps
    its first figure. Each runs ``files[candidate.precision]`` (default: ``path``). OpenCV's
    process-wide thread count is restored afterwards.
    """
    if budget_s <= 0 or rounds < 1:
        raise EdgeimgError(
            f"measure: expected budget_s > 0 and rounds >= 1, got {budget_s}, {rounds}"
        )
    feeds = dict(feeds) if feeds is not None else random_feeds(read_model_info(path))
    share = budget_s / rounds
    first: list[Measurement] = []
    saved = _opencv_threads()
    try:
        for option in options:
            backend = _load(path, option, device, feeds, warmup, files, first)
            if backend is not None:
                times = _time(option, backend, feeds, share, [])
                first.append(Measurement(option, statistics.median(times), len(times)))
            del backend  # released before the next one is loaded
        finalists = contenders(first)
        loaded: list[tuple[Candidate, Backend]] = []
        failed = [m for m in first if m.milliseconds is None]
        for option in finalists:
            backend = _load(path, option, device, feeds, warmup, files, failed)
            if backend is not None:
                loaded.append((option, backend))
        samples: list[list[float]] = [[] for _ in loaded]
        for round_index in range(rounds):
            for offset in range(len(loaded)):
                i = (round_index + offset) % len(loaded)
                _time(*loaded[i], feeds, share, samples[i])
    finally:
        if saved is not None:
            _set_opencv_threads(saved)
    timed = [
        Measurement(option, statistics.median(times), len(times))
        for (option, _), times in zip(loaded, samples, strict=True)
    ]
    done = {m.candidate for m in timed} | {m.candidate for m in failed}
    timed += [m for m in first if m.candidate not in done]
    return ranked(timed, options) + failed


def _load(
    path: str | Path,
    option: Candidate,
    device: Device | str,
    feeds: Mapping[str, np.ndarray],
    warmup: int,
    files: Mapping[str, Path] | None,
    failures: list[Measurement],
) -> Backend | None:
    """The candidate's backend after ``warmup`` runs; None, with its failure appended to
    ``failures``, when it cannot run."""
    try:
        model = (files or {}).get(option.precision, path)
        backend = create_backend(model, option.backend, device, option.threads)
        _activate(option)
        for _ in range(warmup):
            backend.run(feeds)
    except EdgeimgError as exc:
        log.debug("--backend auto: %s cannot run: %s", option.describe(), exc)
        failures.append(Measurement(option, None, 0, str(exc)))
        return None
    return backend


def _time(
    option: Candidate,
    backend: Backend,
    feeds: Mapping[str, np.ndarray],
    seconds: float,
    times: list[float],
) -> list[float]:
    """Append the milliseconds of runs made for ``seconds`` (at least one) to ``times``."""
    _activate(option)
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        backend.run(feeds)
        end = time.perf_counter()
        times.append((end - start) * 1000)
        if end >= deadline:
            return times


def contenders(
    measured: Sequence[Measurement], margin: float = CONTENDER_MARGIN
) -> list[Candidate]:
    """The candidates that may win the final, interleaved measurement: within ``margin`` of
    the fastest alone (ms) or of the least CPU time (threads x ms). :func:`ranked`'s time per
    frame beside the loop, ``max(ms, (loop_ms + threads x ms) / cpus)``, lies between those
    two, so a candidate well behind on both loses for any loop."""
    runs = [m for m in measured if m.milliseconds is not None]
    if not runs:
        return []
    fastest = min(m.milliseconds or 0.0 for m in runs)
    least_cpu = min((m.milliseconds or 0.0) * m.candidate.threads for m in runs)
    return [
        m.candidate
        for m in runs
        if (m.milliseconds or 0.0) <= margin * fastest
        or (m.milliseconds or 0.0) * m.candidate.threads <= margin * least_cpu
    ]


def ranked(
    timed: Sequence[Measurement],
    options: Sequence[Candidate],
    loop_ms: float = 0.0,
    cpus: int | None = None,
    keep: Candidate | None = None,
) -> list[Measurement]:
    """Fastest first, except that candidates within ``TIE_MARGIN`` of the fastest are a tie,
    ordered by ``keep`` first (the choice so far: it changes only for a clearly faster one),
    then precision (FP32 first), then the order of ``options`` (the registry's backend order),
    then fewer threads. loop_ms > 0: "fastest" by ``max(ms, (loop_ms + threads x ms) / cpus)``
    (default cpus: :func:`usable_cpus`), the time per frame beside that much other work;
    failures (None) go last."""
    cpus = cpus or usable_cpus()

    def frame_ms(m: Measurement) -> float:
        ms = m.milliseconds or 0.0
        return max(ms, (loop_ms + m.candidate.threads * ms) / cpus) if loop_ms > 0 else ms

    runs = [m for m in timed if m.milliseconds is not None]
    if not runs:
        return list(timed)
    fastest = min(frame_ms(m) for m in runs)
    order = {c: i for i, c in enumerate(options)}

    def key(m: Measurement) -> tuple[float, ...]:
        ms = frame_ms(m)
        if ms > fastest * (1 + TIE_MARGIN):
            return (1.0, ms)
        c = m.candidate
        return (0.0, float(c != keep), float(c.precision != FLOAT), order.get(c, 0), c.threads, ms)

    return sorted(runs, key=key) + [m for m in timed if m.milliseconds is None]


def remember_loop(choice: Choice, loop_ms: float) -> Choice:
    """``choice`` re-ranked for a loop whose other stages take ``loop_ms`` of CPU per frame
    (averaged with what earlier runs left), and saved so: the next run starts from it. The
    configuration chosen so far stays unless another is clearly faster (beyond ``TIE_MARGIN``).
    A choice never saved is returned as it is."""
    if choice.path is None or not loop_ms > 0:
        return choice
    loop = float(loop_ms) if choice.loop_ms <= 0 else (choice.loop_ms + float(loop_ms)) / 2
    order = ranked(choice.measurements, choice.key.candidates, loop, keep=choice.best.candidate)
    again = replace(choice, measurements=tuple(order), loop_ms=loop)
    save(again, choice.path)
    return again


def _activate(option: Candidate) -> None:
    setter = PROCESS_WIDE_THREADS.get(option.backend)
    if setter is not None:
        setter(option.threads)


def _opencv_threads() -> int | None:
    try:
        import cv2

        return int(cv2.getNumThreads())
    except (ImportError, AttributeError):
        return None


def cache_path(key: ChoiceKey, folder: Path | None = None) -> Path:
    folder = folder if folder is not None else user_cache_dir() / "choice"
    return folder / f"{key.model_sha256[:16]}-{key.digest[:16]}.json"


def load_cached(key: ChoiceKey, path: Path) -> Choice | None:
    """The choice stored at ``path`` when it was measured for exactly ``key``, else None."""
    try:
        data = json.loads(path.read_text())
        if data.get("version") != CACHE_VERSION or data.get("key") != key.to_dict():
            log.info("--backend auto: %s was measured for another model, machine or versions", path)
            return None
        measurements = tuple(
            Measurement(
                Candidate(str(m["backend"]), int(m["threads"]), str(m["precision"])),
                None if m["milliseconds"] is None else float(m["milliseconds"]),
                int(m["runs"]),
                str(m["error"]),
            )
            for m in data["measurements"]
        )
        if not measurements or measurements[0].milliseconds is None:
            return None
        loop_ms = float(data.get("loop_ms") or 0.0)
        keep = measurements[0].candidate  # the choice stored: kept through a tie
        measurements = tuple(ranked(measurements, key.candidates, loop_ms, keep=keep))
        return Choice(
            key, measurements, str(data["measured_at"]), cached=True, path=path, loop_ms=loop_ms
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("--backend auto: ignoring unreadable cache %s: %s", path, exc)
        return None


def save(choice: Choice, path: Path) -> None:
    """Write ``choice`` atomically; a cache that cannot be written is only logged."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(choice.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        log.info("--backend auto: cannot cache the measurement in %s: %s", path, exc)


def choose_backend(
    path: str | Path,
    device: Device | str = Device.CPU,
    backends: Sequence[str] | None = None,
    threads: Sequence[int] | None = None,
    input_shape: Sequence[int | None] | None = None,
    remeasure: bool = False,
    budget_s: float = 0.25,
    cache_dir: Path | None = None,
    info: ModelInfo | None = None,
) -> Choice:
    """The fastest candidate for the model at ``path`` on this machine: from the cache when it
    was measured for the same model, machine, versions, device and candidates (unless
    ``remeasure``), else measured now and cached. EdgeimgError when no candidate runs.
    info: the file's ModelInfo when the caller has read it already (read here otherwise)."""
    path = check_model_file(path)
    info = info or read_model_info(path)  # the caller's reading of this file, when it has one
    given = INT8 if QUANTIZATION_KEY in info.metadata else FLOAT
    int8 = int8_sibling(path) if given == FLOAT else None
    files = {given: path, **({INT8: int8} if int8 is not None else {})}
    options = candidates(backends, threads, tuple(files))
    feeds = random_feeds(info, input_shape)
    first = next(iter(feeds.values()), np.empty(()))
    key = choice_key(path, device, options, int8, first.shape)
    where = cache_path(key, cache_dir)
    cached = load_cached(key, where)
    if cached is not None and not remeasure:
        return replace(cached, files=files)
    loop_ms = cached.loop_ms if cached is not None else 0.0  # the loop's cost outlives a re-measure
    log.info(
        "backend auto: measuring %d configurations of %s once (cached for the next runs)...",
        len(options),
        path.name,
    )
    measurements = measure(path, options, device, feeds, budget_s, files=files)
    if not measurements or measurements[0].milliseconds is None:
        reasons = "; ".join(f"{m.candidate.describe()}: {m.error}" for m in measurements)
        raise EdgeimgError(f"--backend auto: no backend runs {path}: {reasons}")
    if loop_ms > 0:
        measurements = ranked(measurements, options, loop_ms)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    choice = Choice(
        key, tuple(measurements), now, cached=False, path=where, files=files, loop_ms=loop_ms
    )
    save(choice, where)
    return choice
