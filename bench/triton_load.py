"""Load test (issue 17): N camera streams against one Triton server, and N local processes.

    python -m edgeimg.bench.triton_load --video ../shared/data/PETS09-S2L1/vtest.avi \\
        --streams 1,2,4,8,16 --seconds 15 --json runs/load.json --markdown runs/load.md

Each stream is its own process (as N cameras' clients would be): it loads the model on its
backend, waits for a common start time, then replays the video live at its frame rate
(newest frame only: frames the stream cannot keep up with are dropped, as a camera's are) and
runs preprocess -> inference -> decode -> ByteTrack for exactly ``--seconds``, recording each
frame's age when its tracks come out (capture -> result). Three setups, each at every N:

* ``triton-batch``: one ``edgeimg serve`` (``--max-batch 16 --queue-delay-us 2000``) and N
  clients on ``--backend triton://``;
* ``triton-nobatch``: the same server with ``--max-batch 0`` (each request alone);
* ``local``: N processes each running the model on onnxruntime itself, as N separate
  ``edgeimg track --live`` runs would.

Reported per setup and N: total frames/s (all streams), frames dropped, p50/p99 frame age over
every frame of every stream, and CPU utilisation of the whole machine (/proc/stat) over the
window. Everything on loopback, bounded in time (``--seconds`` per run) and count (the N list).
The server runs from ``--serve-python`` (a Python with a shared libpython and edgeimg[serve],
default ``.venv-serve/bin/python``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

SETUPS = ("triton-batch", "triton-nobatch", "local")


# -- one stream (a worker process) -------------------------------------------------------------


def run_stream(video: str, backend: str, start_at: float, seconds: float, out: Path) -> None:
    """Load, wait for ``start_at`` (time.time()), replay ``video`` live for ``seconds`` through
    the tracker; write {frames, seconds, dropped, ages_ms} as JSON to ``out``."""
    from edgeimg.runtime.model import bundled_model_path, load_model
    from edgeimg.runtime.pipeline import PipelineConfig, run_pipeline
    from edgeimg.runtime.sinks import FrameResult, Sink
    from edgeimg.runtime.sources import SourceConfig, open_source

    model = load_model(bundled_model_path(), backend=backend)

    class Ages(Sink):
        """Frame ages (ms) at the end of the pipeline; asks to stop at the deadline."""

        def __init__(self, deadline: float) -> None:
            super().__init__()
            self.deadline = deadline
            self.ages: list[float] = []

        def write(self, result: FrameResult) -> None:
            now = time.monotonic()
            self.frames += 1
            self.ages.append(1000.0 * (now - result.frame.timestamp))
            if now >= self.deadline:
                self.stop_requested = True

    time.sleep(max(0.0, start_at - time.time()))
    begun = time.monotonic()
    sink = Ages(begun + seconds)
    with open_source(video, SourceConfig(live=True)) as source:
        result = run_pipeline(
            source,
            model,
            [sink],
            stages=model.task.stages(model.contract),
            config=PipelineConfig(log_every_s=0),
        )
    record = {
        "frames": sink.frames,
        "seconds": time.monotonic() - begun,
        "dropped": result.timing.dropped,
        "ages_ms": [round(a, 2) for a in sink.ages],
    }
    out.write_text(json.dumps(record))


# -- the coordinator ---------------------------------------------------------------------------


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [float(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    total = sum(values[:8])  # guest time is already in user
    return total - idle, total


def tree_cpu_seconds(roots: Sequence[int]) -> float:
    """User + system CPU seconds of the processes ``roots`` and all their descendants now
    alive (Linux /proc: the server's tritonserver and backend stub are its descendants)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    wanted = set(roots)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in wanted} - wanted
        wanted |= more
        grew = bool(more)
    return sum(times.get(pid, 0.0) for pid in wanted)


@dataclass(frozen=True)
class Row:
    """One setup at one N: what the streams did together in the window."""

    setup: str
    streams: int
    fps_total: float
    fps_per_stream: float
    dropped: int
    p50_ms: float
    p99_ms: float
    cpu_percent: float  # the whole machine (every process, ours or not), % of all cores
    ours_percent: float  # the streams' and the server's processes, % of all cores
    failed: int = 0


def summarise(
    setup: str, records: Sequence[dict[str, Any]], cpu: float, ours: float, failed: int
) -> Row:
    """The streams' records -> a Row (frame ages pooled over every frame of every stream)."""
    ages = np.concatenate([np.asarray(r["ages_ms"], dtype=np.float64) for r in records] or [[]])
    fps = [r["frames"] / r["seconds"] for r in records if r["seconds"] > 0]
    n = len(records) + failed
    return Row(
        setup=setup,
        streams=n,
        fps_total=round(float(sum(fps)), 1),
        fps_per_stream=round(float(sum(fps)) / n, 2) if n else 0.0,
        dropped=int(sum(r["dropped"] for r in records)),
        p50_ms=round(float(np.percentile(ages, 50)), 1) if ages.size else float("nan"),
        p99_ms=round(float(np.percentile(ages, 99)), 1) if ages.size else float("nan"),
        cpu_percent=round(cpu, 1),
        ours_percent=round(ours, 1),
        failed=failed,
    )


def run_setup_at(
    setup: str,
    streams: int,
    video: str,
    backend: str,
    seconds: float,
    folder: Path,
    server_pids: Sequence[int] = (),
) -> Row:
    """N stream processes, a common start after they load, the window's CPU share."""
    load_s = 4.0 + 0.6 * streams  # import + model load of N processes on a small machine
    start_at = time.time() + load_s
    procs = []
    outs = []
    for i in range(streams):
        out = folder / f"{setup}-{streams}-{i}.json"
        outs.append(out)
        command = [sys.executable, "-m", "edgeimg.bench.triton_load", "--worker", video,
                   backend, str(start_at), str(seconds), str(out)]  # fmt: skip
        procs.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        )
    roots = [p.pid for p in procs] + list(server_pids)
    time.sleep(max(0.0, start_at - time.time()))
    busy0, total0 = cpu_times()
    ours0 = tree_cpu_seconds(roots)
    time.sleep(seconds)
    busy1, total1 = cpu_times()
    ours1 = tree_cpu_seconds(roots)
    failed = 0
    records = []
    for proc, out in zip(procs, outs, strict=True):
        try:
            _, err = proc.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode == 0 and out.is_file():
            records.append(json.loads(out.read_text()))
        else:
            failed += 1
            print(f"  stream failed ({proc.returncode}): {err.strip()[-300:]}", file=sys.stderr)
    cpu = 100.0 * (busy1 - busy0) / max(total1 - total0, 1.0)
    ours = 100.0 * (ours1 - ours0) / (seconds * (os.cpu_count() or 1))
    return summarise(setup, records, cpu, ours, failed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`edgeimg serve` of the bundled detector in its own process group."""

    def __init__(self, python: Path, max_batch: int, log: Path) -> None:
        self.port = free_port()
        ports = [str(self.port), str(free_port()), str(free_port())]
        self._log = open(log, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [str(python), "-m", "edgeimg.cli.main", "serve", "--port", ports[0],
             "--grpc-port", ports[1], "--metrics-port", ports[2],
             "--max-batch", str(max_batch), "--queue-delay-us", "2000"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        url = f"http://127.0.0.1:{self.port}/v2/models/detector/ready"
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"edgeimg serve exited {self.process.returncode}: see {log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the server was not ready in 120 s: see {log}")
            time.sleep(0.25)

    @property
    def uri(self) -> str:
        return f"triton://127.0.0.1:{self.port}/detector"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def markdown(rows: Sequence[Row]) -> str:
    lines = [
        "| setup | streams | frames/s total | per stream | dropped | p50 ms | p99 ms "
        "| CPU % (test) | CPU % (machine) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        failed = f" ({r.failed} failed)" if r.failed else ""
        lines.append(
            f"| {r.setup} | {r.streams}{failed} | {r.fps_total} | {r.fps_per_stream} | "
            f"{r.dropped} | {r.p50_ms} | {r.p99_ms} | {r.ours_percent} | {r.cpu_percent} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model, flags = "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "?":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "avx512_vnni": "avx512_vnni" in flags}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        video, backend, start_at, seconds, out = argv[1:6]
        run_stream(video, backend, float(start_at), float(seconds), Path(out))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    repo = Path(__file__).resolve().parents[1]
    parser.add_argument(
        "--video", default=str(repo.parent / "shared/data/PETS09-S2L1/vtest.avi"), type=str
    )
    parser.add_argument("--streams", default="1,2,4,8,16", help="N values (default 1,2,4,8,16)")
    parser.add_argument("--seconds", type=float, default=15.0, help="window per run (15)")
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"of {', '.join(SETUPS)}")
    parser.add_argument(
        "--serve-python",
        type=Path,
        default=Path(os.environ.get("EDGEIMG_SERVE_PYTHON", repo / ".venv-serve/bin/python")),
        help="the interpreter with edgeimg[serve] (default .venv-serve/bin/python)",
    )
    parser.add_argument("--json", type=Path, help="write the rows and the machine as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    args = parser.parse_args(argv)
    streams = [int(n) for n in args.streams.split(",")]
    setups = [s.strip() for s in args.setups.split(",")]
    unknown = [s for s in setups if s not in SETUPS]
    if unknown or not streams or min(streams) < 1 or args.seconds <= 0:
        parser.error(f"--setups of {', '.join(SETUPS)}; --streams >= 1; --seconds > 0")
    if not Path(args.video).is_file():
        parser.error(f"--video: no such file: {args.video}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="edgeimg-load-") as tmp:
        folder = Path(tmp)
        for setup in setups:
            server = None
            if setup.startswith("triton"):
                batch = 16 if setup == "triton-batch" else 0
                server = Server(args.serve_python, batch, folder / f"{setup}.log")
            try:
                backend = server.uri if server else "onnxruntime"
                for n in streams:
                    pids = [server.process.pid] if server else []
                    row = run_setup_at(setup, n, args.video, backend, args.seconds, folder, pids)
                    rows.append(row)
                    print(markdown([row]).splitlines()[-1], file=sys.stderr, flush=True)
            finally:
                if server is not None:
                    server.stop()
    table = markdown(rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.json:
        payload = {"machine": machine(), "seconds": args.seconds, "video": args.video,
                   "rows": [asdict(r) for r in rows]}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
