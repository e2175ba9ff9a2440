"""Coverage-guided fuzzing of the parsers that read untrusted input: the model contract (ONNX
metadata or ``--contract FILE``) and the tracker config (``--tracker-config FILE``).

Run::

    python -m edgeimg.bench.fuzz_contract [--target contract|metadata|yaml|all]
                                          [--runs N | --seconds S] [--no-atheris] [--seed K]

Targets:

- ``contract``: ``ModelContract.from_dict`` on JSON/YAML-like dicts built from the fuzzer's
  bytes (a valid contract of each task, then its real keys set to wrong-typed or extreme
  values, keys dropped, unknown and non-text keys added; nested ``decoder_params`` and
  ``task_params``/``tracker`` keys too), and on raw bytes decoded as JSON text.
- ``metadata``: ``ModelContract.from_metadata`` on ``edgeimg.<key>`` -> text maps as
  onnxruntime's ``custom_metadata_map`` gives them: JSON of generated values, mutated JSON
  and raw strings (deep nesting, 5000-digit numbers, NaN/Infinity, lone surrogates).
- ``yaml``: the file readers, on text written to a temporary file: ``ModelContract.from_file``
  (``.yaml`` and ``.json``), the tracker config's ``settings_from_yaml`` and
  ``ByteTrackConfig.from_dict`` (the same structured dicts as for the contract).

The property: every input either parses into a valid object or raises ``EdgeimgError`` whose
message is one non-empty line. A line break is allowed only where the message quotes a piece
of the input that itself holds one (a key named ``"a\\nb"`` listed among the unknown keys):
every text of the input (keys and values, for raw text the parsed values) is removed from the
message before it is checked. A contract that parses must also survive
``from_dict(contract.to_dict())`` unchanged. Any other exception (TypeError, ValueError,
KeyError, OverflowError, RecursionError, MemoryError...) is a finding: the script prints the
input (repr) and the traceback of each distinct finding and exits 1.

Coverage guidance needs atheris, a dev tool that is not a dependency of edgeimg
(``pip install atheris``: wheels for CPython 3.8-3.12 on x86-64 manylinux). Each target runs
in a child process under libFuzzer (``atheris.instrument_imports`` around the import of
edgeimg's parsers; PyYAML stays uninstrumented, else the yaml target crawls); the parent
prints libFuzzer's figures (executions, exec/s, coverage) and the findings. ``--no-atheris``
(or atheris missing) draws the same generators from ``random.Random(seed)`` in-process: no
coverage guidance, but it runs anywhere, and the tests use it (``tests/bench/test_fuzz_contract.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

TARGETS = ("contract", "metadata", "yaml")

# -- the parsers, imported lazily (under atheris.instrument_imports in a fuzzing child) ---------

_P: SimpleNamespace | None = None


def parsers() -> SimpleNamespace:
    """edgeimg's parsers and the vocabulary the generators draw real keys and names from."""
    global _P
    if _P is not None:
        return _P
    import yaml

    from edgeimg.runtime.contract import PREFIX, ModelContract
    from edgeimg.runtime.errors import EdgeimgError
    from edgeimg.runtime.tasks import TASKS
    from edgeimg.runtime.tasks.detect.tracking.config import (
        ByteTrackConfig,
        settings_from_yaml,
    )

    specs = [TASKS.get(name) for name in TASKS.names()]
    decoder_keys: set[str] = set()
    for spec in specs:
        for decoder in spec.decoders.values():
            module = sys.modules[decoder.__module__]
            for value in vars(module).values():
                if dataclasses.is_dataclass(value) and value.__name__.endswith("Config"):
                    decoder_keys.update(f.name for f in dataclasses.fields(value))
    task_keys = {
        f.name for spec in specs if spec.params_type for f in dataclasses.fields(spec.params_type)
    }
    _P = SimpleNamespace(
        yaml=yaml,
        PREFIX=PREFIX,
        ModelContract=ModelContract,
        EdgeimgError=EdgeimgError,
        ByteTrackConfig=ByteTrackConfig,
        settings_from_yaml=settings_from_yaml,
        contract_keys=tuple(ModelContract.__dataclass_fields__),
        tracker_keys=tuple(f.name for f in dataclasses.fields(ByteTrackConfig)),
        decoder_keys=tuple(sorted(decoder_keys)),
        task_keys=tuple(sorted(task_keys)),
        tasks=tuple(spec.name for spec in specs),
        decoders=tuple(sorted({d for spec in specs for d in spec.decoders})),
    )
    return _P


# A valid contract of each built-in task: the generators start from one and break it, so the
# search reaches the task's own checks (decoders, task_params) and not only the first key.
BASES: tuple[dict[str, Any], ...] = (
    {"task": "detect", "class_names": ["person"], "input_size": [320, 320]},
    {
        "task": "detect",
        "class_names": ["a", "b"],
        "input_size": [64, 96],
        "layout": "NCHW",
        "decoder": "centernet",
        "decoder_params": {"stride": 4, "score_threshold": 0.2, "output_layout": "NCHW"},
        "task_params": {"tracker": {"track_thresh": 0.4, "low_thresh": 0.1, "min_hits": 2}},
    },
    {
        "task": "detect",
        "class_names": ["car"],
        "input_size": [640, 640],
        "decoder": "yolov8",
        "decoder_params": {"score_threshold": 0.25, "nms_iou": 0.7, "max_detections": 300},
    },
    {
        "task": "classify",
        "class_names": ["dark", "bright"],
        "input_size": [16, 16],
        "resize": "stretch",
        "mean": [127.5, 127.5, 127.5],
        "std": [127.5, 127.5, 127.5],
        "decoder_params": {"top_k": 1},
    },
    {
        "task": "segment",
        "class_names": ["bg", "fg"],
        "input_size": [128, 128],
        "task_params": {"palette": [[0, 0, 0], [255, 0, 0]], "alpha": 0.5},
    },
    {
        "task": "upscale",
        "input_size": None,
        "resize": "none",
        "channels": 1,
        "color_order": "GRAY",
        "mean": [0.0],
        "std": [1.0],
        "decoder": "ycbcr",
        "task_params": {"scale": 3},
    },
    {
        "task": "generate",
        "class_names": ["0", "1"],
        "input_size": None,
        "resize": "none",
        "task_params": {"latent_dim": 100, "conditional": True, "image_size": [28, 28]},
    },
)

WORDS = (
    "NHWC", "NCHW", "nchw", "RGB", "BGR", "GRAY", "gray", "letterbox", "stretch", "none",
    "float32", "uint8", "FLOAT32", "int8", "detection", "filtered", "dcgan", "vae", "true",
    "null", "", " ", "0", "1.5", "-1", "nan", "inf", "1e400", "a\nb", "\x85", "\u2028", "é",
)  # fmt: skip
INTS = (0, 1, -1, 2, 3, 4, 8, 255, 256, 4096, 16384, 16385, 2**31, -(2**31), 2**63, 10**400)
FLOATS = (
    0.0, -0.0, 0.5, 1.0, 1.0000001, -0.5, 1e-300, 1e308, -1e308,
    float("inf"), float("-inf"), float("nan"), 255.5, 0.9999999,
)  # fmt: skip
RAW = (  # raw metadata/file texts that slip past structured generation
    "[" * 5000, '{"a":' * 3000, "9" * 5000, "-" + "1" * 4400, "NaN", "Infinity", "-Infinity",
    "1e999", '"\\ud800"', '["\\udfff"]', "", " ", "null", "{}", "[]", '"detect"', "\x00",
    "- " * 2000, "&a [*a]", "!!binary AAAA", "!!set {a, b}", "? [a]\n: 1", "2020-01-01",
    "{a: 1, a: 2}", ".inf", ".nan", "0x10", "0o17", "1_000", "~", "&a a\n*a: 1", "\t",
)  # fmt: skip
CHARS = "abcdetk019 _-.,:;{}[]\"'\\#&*!|>%@`?\n\r\t\x00\x85\u2028é😀"


# -- sources of choices: the fuzzer's bytes, or a seeded random generator -----------------------


class RandomSource:
    """Choices from ``random.Random(seed)`` (the fallback without atheris)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def int_in(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def flag(self) -> bool:
        return self.rng.random() < 0.5

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def text(self, max_len: int) -> str:
        return "".join(self.rng.choice(CHARS) for _ in range(self.rng.randint(0, max_len)))

    def raw(self, max_len: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_len))

    def number(self) -> float:
        return self.rng.choice((self.rng.uniform(-2.0, 2.0), self.rng.random(), 1e300 * 10))


class FdpSource:
    """Choices from libFuzzer's bytes through ``atheris.FuzzedDataProvider``."""

    def __init__(self, fdp: Any) -> None:
        self.fdp = fdp

    def int_in(self, lo: int, hi: int) -> int:
        return int(self.fdp.ConsumeIntInRange(lo, hi))

    def flag(self) -> bool:
        return bool(self.fdp.ConsumeBool())

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.fdp.ConsumeIntInRange(0, len(seq) - 1)]

    def text(self, max_len: int) -> str:
        return str(self.fdp.ConsumeUnicode(self.fdp.ConsumeIntInRange(0, max_len)))

    def raw(self, max_len: int) -> bytes:
        return bytes(self.fdp.ConsumeBytes(self.fdp.ConsumeIntInRange(0, max_len)))

    def number(self) -> float:
        return float(self.fdp.ConsumeFloat())


# -- generators ---------------------------------------------------------------------------------


def gen_key(src: Any, keys: Sequence[str], exotic: bool) -> Any:
    """A real key mostly; else random text, or (YAML can) an int, float, bool or null key."""
    choice = src.int_in(0, 9)
    if choice <= 5:
        return src.pick(keys)
    if choice <= 7 or not exotic:
        return src.text(12)
    return src.pick((0, 1, -1, 2.5, True, False, None, float("nan")))


def gen_scalar(src: Any, exotic: bool) -> Any:
    choice = src.int_in(0, 11)
    if choice == 0:
        return None
    if choice == 1:
        return src.flag()
    if choice == 2:
        return src.int_in(-3, 20)
    if choice == 3:
        return src.pick(INTS)
    if choice == 4:
        return src.pick(FLOATS)
    if choice == 5:
        return src.number()
    if choice <= 8:
        return src.pick(WORDS)
    if choice == 9 and exotic:  # what yaml.safe_load also produces
        return src.pick((b"\x00\xff", datetime.date(2020, 1, 1), frozenset({"a"}), {1, 2}))
    return src.text(20)


def gen_value(src: Any, exotic: bool, depth: int = 0) -> Any:
    choice = src.int_in(0, 5)
    if depth >= 3 or choice <= 3:
        return gen_scalar(src, exotic)
    if choice == 4:
        return [gen_value(src, exotic, depth + 1) for _ in range(src.int_in(0, 4))]
    return {
        gen_key(src, WORDS, exotic): gen_value(src, exotic, depth + 1)
        for _ in range(src.int_in(0, 3))
    }


def gen_numbers(src: Any, exotic: bool, lo: int = 0, hi: int = 4) -> list[Any]:
    pool = (lambda: src.pick(INTS), lambda: src.pick(FLOATS), lambda: gen_scalar(src, exotic))
    return [src.pick(pool)() for _ in range(src.int_in(lo, hi))]


def gen_params(src: Any, keys: Sequence[str], exotic: bool) -> dict[Any, Any]:
    """A dict of near-valid (or not) settings with real keys (decoder, task or tracker)."""
    p = parsers()
    out: dict[Any, Any] = {}
    for _ in range(src.int_in(0, 4)):
        key = gen_key(src, keys, exotic)
        if key == "tracker" and src.flag():
            out[key] = gen_params(src, p.tracker_keys, exotic)
        elif key in ("palette", "image_size") and src.flag():
            out[key] = [gen_numbers(src, exotic, 0, 4) for _ in range(src.int_in(0, 3))]
            if key == "image_size" or src.flag():
                out[key] = gen_numbers(src, exotic, 0, 3)
        else:
            out[key] = gen_value(src, exotic)
    return out


def gen_field(src: Any, key: str, exotic: bool) -> Any:
    """A value for one contract key: near-valid (the right kind, odd contents) or anything."""
    p = parsers()
    if src.int_in(0, 4) == 0:
        return gen_value(src, exotic)
    if key == "task":
        return src.pick(p.tasks)
    if key == "decoder":
        return src.pick(p.decoders)
    if key in ("class_names", "output_names"):
        return [src.pick((gen_scalar, gen_value))(src, exotic) for _ in range(src.int_in(0, 4))]
    if key in ("input_size", "mean", "std"):
        return gen_numbers(src, exotic)
    if key in ("channels", "pad_value"):
        return src.pick(INTS)
    if key == "decoder_params":
        return gen_params(src, p.decoder_keys, exotic)
    if key == "task_params":
        return gen_params(src, p.task_keys, exotic)
    return gen_scalar(src, exotic)


def gen_contract(src: Any, exotic: bool) -> dict[Any, Any]:
    """A valid contract of some task with 0 to 4 mutations."""
    p = parsers()
    values: dict[Any, Any] = json.loads(json.dumps(src.pick(BASES)))
    for _ in range(src.int_in(0, 4)):
        op = src.int_in(0, 5)
        if op <= 2:
            key = src.pick(p.contract_keys)
            values[key] = gen_field(src, key, exotic)
        elif op == 3 and values:
            values.pop(src.pick(list(values)))
        elif op == 4:
            values[gen_key(src, p.contract_keys, exotic)] = gen_value(src, exotic)
        else:
            values[src.pick(p.contract_keys)] = gen_value(src, exotic)
    return values


def mutate_text(src: Any, text: str) -> str:
    """A few edits of ``text``: insert a character or a RAW piece, delete, repeat, truncate."""
    for _ in range(src.int_in(0, 3)):
        at = src.int_in(0, len(text))
        op = src.int_in(0, 4)
        if op == 0:
            text = text[:at] + src.pick(CHARS) + text[at:]
        elif op == 1:
            text = text[:at] + text[at + src.int_in(1, 8) :]
        elif op == 2:
            text = text[:at] + src.pick(RAW)[:64] + text[at:]
        elif op == 3:
            text = text[:at] + text[at : at + 16] * src.int_in(2, 50) + text[at:]
        else:
            text = text[:at]
    return text


def gen_text(src: Any, structured: Callable[[], Any], dump: Callable[[Any], str]) -> str:
    """Text of a document: a dump of a structured value (maybe mutated), a RAW text or raw
    bytes decoded as UTF-8."""
    choice = src.int_in(0, 7)
    if choice <= 4:
        try:
            text = dump(structured())
        except Exception:  # the generator's own limits (a set in JSON), not the parser's
            text = src.pick(RAW)
        return mutate_text(src, text) if choice >= 3 else text
    if choice == 5:
        return src.pick(RAW)
    return src.raw(256).decode("utf-8", "replace")


# -- the property --------------------------------------------------------------------------------


@dataclasses.dataclass
class Finding:
    target: str
    kind: str  # the exception type, or "multi-line message", "round trip", ...
    where: str  # file:line of the innermost frame, the signature with kind
    input: str  # repr
    traceback: str
    count: int = 1

    def report(self) -> str:
        return (
            f"FINDING [{self.target}] {self.kind} at {self.where} ({self.count}x)\n"
            f"input: {self.input}\n{self.traceback}"
        )


def _strings(value: Any, out: list[str], depth: int = 0) -> list[str]:
    """The texts in ``value`` (YAML anchors can make it recursive: 50 levels at most)."""
    if isinstance(value, str):
        out.append(value)
    elif depth > 50:
        pass
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings(k, out, depth + 1)
            _strings(v, out, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _strings(v, out, depth + 1)
    return out


def _parsed(text: str) -> Any:
    """What a text parses to, for the texts a message may quote (None if it does not)."""
    for load in (json.loads, parsers().yaml.safe_load):
        try:
            return load(text)
        except Exception:
            continue
    return None


def has_break(text: str) -> bool:
    """Whether ``text`` holds a line break (any that ``str.splitlines`` splits on)."""
    return "".join(text.splitlines()) != text


def check(
    target: str,
    call: Callable[[], Any],
    shown: Any,
    quoted: Callable[[], Any] | None = None,
) -> Finding | None:
    """Run one parse; None when it parses or raises a one-line EdgeimgError, else a Finding.

    shown: the input as reported (its repr). quoted: the values whose texts a message may
    quote verbatim (default: shown), computed only for a message with a line break."""
    p = parsers()
    try:
        result = call()
    except p.EdgeimgError as exc:
        message = str(exc)
        rest = message
        if has_break(message):
            texts = _strings(shown if quoted is None else quoted(), [])
            for text in sorted(texts, key=len, reverse=True):
                if has_break(text):
                    rest = rest.replace(text, "")
        if not message.strip():
            kind = f"{type(exc).__name__} with an empty message"
        elif has_break(rest):
            kind = f"{type(exc).__name__} with a multi-line message"
        else:
            return None
        return _finding(target, kind, shown, exc, f"message: {message!r}\n")
    except Exception as exc:
        return _finding(target, type(exc).__name__, shown, exc, "")
    if isinstance(result, p.ModelContract):
        try:
            again = p.ModelContract.from_dict(result.to_dict())
            same = repr(again.to_dict()) == repr(result.to_dict())
            problem = "" if same else f"{result!r} came back as {again!r}"
        except Exception as exc:
            return _finding(target, f"round trip: {type(exc).__name__}", shown, exc, "")
        if problem:
            return Finding(target, "round trip", "to_dict/from_dict", repr(shown), problem)
    return None


def _finding(target: str, kind: str, shown: Any, exc: BaseException, extra: str) -> Finding:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "edgeimg" in f.filename or "/runtime/" in f.filename]
    last = (ours or frames)[-1] if frames else None
    where = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    text = extra + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Finding(target, kind, where, repr(shown)[:2000], text)


# -- one input of each target ---------------------------------------------------------------------


class Runner:
    """Turns the source's choices into one parse of ``target`` and checks it."""

    def __init__(self, target: str, workdir: Path) -> None:
        self.target = target
        self.workdir = workdir
        self.p = parsers()

    def one(self, src: Any) -> Finding | None:
        return getattr(self, f"_{self.target}")(src)

    def _contract(self, src: Any) -> Finding | None:
        p = self.p
        if src.int_in(0, 3):
            values = gen_contract(src, exotic=True)
            return check("contract", lambda: p.ModelContract.from_dict(values), values)
        text = gen_text(src, lambda: gen_contract(src, exotic=False), json.dumps)
        try:
            values = json.loads(text)
        except Exception:  # not JSON: from_dict never sees it
            return None
        if not isinstance(values, dict):  # from_file and from_metadata refuse these first
            return None
        return check("contract", lambda: p.ModelContract.from_dict(values), values)

    def _metadata(self, src: Any) -> Finding | None:
        p = self.p
        meta: dict[str, str] = {}
        for key, value in gen_contract(src, exotic=False).items():
            try:
                meta[p.PREFIX + str(key)] = json.dumps(value)
            except (TypeError, ValueError):  # a value json cannot write
                meta[p.PREFIX + str(key)] = src.pick(RAW)
        for _ in range(src.int_in(0, 3)):
            op = src.int_in(0, 3)
            if op == 0 and meta:
                key = src.pick(list(meta))
                meta[key] = mutate_text(src, meta[key])
            elif op == 1 and meta:
                meta[src.pick(list(meta))] = src.pick(RAW)
            elif op == 2:
                meta[p.PREFIX + src.pick(p.contract_keys)] = src.text(40)
            else:
                meta[src.pick(("", p.PREFIX, "onnx.", "edgeimg")) + src.text(8)] = src.text(20)
        return check(
            "metadata",
            lambda: p.ModelContract.from_metadata(meta),
            meta,
            lambda: [meta, [k[len(p.PREFIX) :] for k in meta], *map(_parsed, meta.values())],
        )

    def _yaml(self, src: Any) -> Finding | None:
        p = self.p
        kind = src.int_in(0, 3)
        if kind == 3:
            values = gen_params(src, p.tracker_keys, exotic=True)
            return check("yaml", lambda: p.ByteTrackConfig.from_dict(values), values)
        if kind == 2:
            name, dump = "tracker.yaml", p.yaml.safe_dump
            text = gen_text(src, lambda: gen_params(src, p.tracker_keys, True), dump)
            parse: Callable[[Path], Any] = p.settings_from_yaml
        else:
            name = ("contract.yaml", "contract.json")[kind]
            dump = p.yaml.safe_dump if kind == 0 else json.dumps
            text = gen_text(src, lambda: gen_contract(src, exotic=kind == 0), dump)
            parse = p.ModelContract.from_file
        path = self.workdir / name
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        return check("yaml", lambda: parse(path), f"{name}: {text}", lambda: [text, _parsed(text)])


# -- drivers -------------------------------------------------------------------------------------


def record(findings: dict[tuple[str, str], Finding], finding: Finding | None) -> bool:
    """Add a finding; True when its (kind, where) is new."""
    if finding is None:
        return False
    key = (finding.kind, finding.where)
    if key in findings:
        findings[key].count += 1
        return False
    findings[key] = finding
    return True


def run_fallback(
    target: str, runs: int | None = None, seconds: float | None = None, seed: int = 0
) -> tuple[int, list[Finding]]:
    """The generators on ``random.Random(seed)``: (executions, distinct findings)."""
    rng = random.Random(seed)
    src = RandomSource(rng)
    findings: dict[tuple[str, str], Finding] = {}
    deadline = time.monotonic() + seconds if seconds is not None else None
    done = 0
    with tempfile.TemporaryDirectory(prefix="fuzz_contract_") as tmp:
        runner = Runner(target, Path(tmp))
        while (runs is None or done < runs) and (deadline is None or time.monotonic() < deadline):
            record(findings, runner.one(src))
            done += 1
    return done, list(findings.values())


def child(target: str, findings_file: str, libfuzzer_args: list[str]) -> None:
    """Under libFuzzer: each new finding is appended to findings_file as a JSON line and the
    search goes on (libFuzzer would stop at the first exception)."""
    import atheris

    with atheris.instrument_imports(include=["edgeimg"]):
        parsers()
    findings: dict[tuple[str, str], Finding] = {}
    tmp = tempfile.mkdtemp(prefix="fuzz_contract_")
    runner = Runner(target, Path(tmp))

    def test_one_input(data: bytes) -> None:
        finding = runner.one(FdpSource(atheris.FuzzedDataProvider(data)))
        if record(findings, finding):
            assert finding is not None
            with open(findings_file, "a") as out:
                out.write(json.dumps(dataclasses.asdict(finding)) + "\n")
            print(f"new finding: {finding.kind} at {finding.where}", file=sys.stderr, flush=True)

    atheris.Setup([sys.argv[0], *libfuzzer_args], test_one_input)
    atheris.Fuzz()


FIGURES = {
    "executions": re.compile(r"stat::number_of_executed_units:\s*(\d+)"),
    "exec_per_s": re.compile(r"stat::average_exec_per_sec:\s*(\d+)"),
    "cov": re.compile(r"\bcov: (\d+)"),
    "ft": re.compile(r"\bft: (\d+)"),
    "corpus": re.compile(r"\bcorp: (\d+)"),
}


def run_atheris(
    target: str, runs: int | None, seconds: float | None, seed: int
) -> tuple[dict[str, int], list[Finding], int]:
    """One target in a child process: (libFuzzer's figures, findings, the child's exit code)."""
    limit = [f"-runs={runs}"] if runs is not None else [f"-max_total_time={int(seconds or 60)}"]
    args = [*limit, f"-seed={seed or 1}", "-timeout=10", "-rss_limit_mb=2048"]
    args += ["-print_final_stats=1", "-max_len=4096"]
    with tempfile.TemporaryDirectory(prefix="fuzz_contract_") as tmp:
        findings_file = os.path.join(tmp, "findings.jsonl")
        cmd = [sys.executable, "-m", "edgeimg.bench.fuzz_contract", "--target", target]
        cmd += ["--child", findings_file, "--", *args]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, errors="replace")
        figures: dict[str, int] = {}
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            for name, pattern in FIGURES.items():
                match = pattern.search(line)
                if match:
                    figures[name] = int(match.group(1))
        code = proc.wait()
        found = []
        if os.path.exists(findings_file):
            with open(findings_file) as lines:
                found = [Finding(**json.loads(line)) for line in lines]
    return figures, found, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--runs", type=int, help="inputs per target")
    limit.add_argument("--seconds", type=float, help="seconds per target (default 60)")
    parser.add_argument("--no-atheris", action="store_true", help="random inputs, no guidance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", metavar="FINDINGS", help=argparse.SUPPRESS)
    parser.add_argument("libfuzzer", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.target, args.child, args.libfuzzer)
        return 0
    seconds = args.seconds if args.seconds is not None or args.runs is not None else 60.0
    use_atheris = not args.no_atheris
    if use_atheris:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris is not installed: random inputs (--no-atheris)", file=sys.stderr)
            use_atheris = False
    targets = TARGETS if args.target == "all" else (args.target,)
    all_findings: list[Finding] = []
    summary = []
    failed = False
    for target in targets:
        if use_atheris:
            figures, found, code = run_atheris(target, args.runs, seconds, args.seed)
            failed |= code != 0
            summary.append(
                f"{target}: {figures.get('executions', '?')} executions, "
                f"{figures.get('exec_per_s', '?')} exec/s, cov {figures.get('cov', '?')}, "
                f"ft {figures.get('ft', '?')}, corpus {figures.get('corpus', '?')}, "
                f"{len(found)} finding(s), libFuzzer exit {code}"
            )
        else:
            start = time.monotonic()
            done, found = run_fallback(target, args.runs, seconds, args.seed)
            rate = done / max(time.monotonic() - start, 1e-9)
            summary.append(f"{target}: {done} executions, {rate:.0f}/s, {len(found)} finding(s)")
        all_findings += found
    for finding in all_findings:
        print(finding.report())
    print("\n".join(summary))
    return 1 if all_findings or failed else 0


if __name__ == "__main__":
    sys.exit(main())
