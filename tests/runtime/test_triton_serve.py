"""`edgeimg serve` on a real Triton server and `--backend triton://` against it (issue 17).

The server runs from the serve interpreter: ``$EDGEIMG_SERVE_PYTHON``, else ``.venv-serve`` at
the repository root (a venv of Debian's /usr/bin/python3 with ``edgeimg[serve]``; .ci/run makes
it). Without one these tests skip locally, saying how to make it, and fail in CI. The client
side runs here, in-process, and needs ``tritonclient[http]`` (the runtime-only stage has none:
skipped there).

One server (the bundled detector) serves the module; the fault test starts its own and kills
its whole process group (tritonserver and the Python-backend stub with it) mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_service import assert_complete_and_consistent, one_line_error

from edgeimg.cli.main import main
from edgeimg.runtime.backends import create_backend
from edgeimg.runtime.backends.triton import METADATA_PARAMETER, parse_triton_uri
from edgeimg.runtime.model import bundled_model_path
from edgeimg.runtime.serve import interpreter_problem, use_own_libpython

REPO = Path(__file__).resolve().parents[2]
http = pytest.importorskip("tritonclient.http", reason="needs tritonclient[http] (the client)")


def serve_python() -> Path:
    """The interpreter that runs `edgeimg serve`; skips (fails in CI) when there is none."""
    given = os.environ.get("EDGEIMG_SERVE_PYTHON")
    path = Path(given) if given else REPO / ".venv-serve" / "bin" / "python"
    probe = subprocess.run(
        [str(path), "-c", "import pytriton, edgeimg"], capture_output=True, timeout=60
    ) if path.is_file() else None  # fmt: skip
    if probe is None or probe.returncode != 0:
        message = (
            f"no serve interpreter at {path} (with edgeimg[serve]): make one with "
            "/usr/bin/python3 -m venv .venv-serve && .venv-serve/bin/pip install -e '.[serve]' "
            "(or set EDGEIMG_SERVE_PYTHON)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def uri(self, model: str = "detector", query: str = "") -> str:
        return f"triton://127.0.0.1:{self.port}/{model}{query}"

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """Signal the whole process group: edgeimg serve, tritonserver and the stub."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signum)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # tritonserver and the stub may outlive the group leader a moment: their ports are
        # free once the whole group is gone
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


# PyTriton's own race, not edgeimg's: with 2+ instances, a later instance's stub connects to the
# first one's handshake socket between its bind() and listen() and gets "Connection refused"
# (seen once under a loaded full test run; pytriton/proxy/communication.py). The server then
# exits with its one-line error; the test starts it once more.
UPSTREAM_RACE = "get_config_from_handshake_server"


def start_server(folder: Path, *args: str, ports: list[int] | None = None) -> Server:
    """`edgeimg serve` on ``ports`` (HTTP, gRPC, metrics; default: free ones); returns once
    the detector answers (bounded: 90 s)."""
    for attempt in (1, 2):
        server = launch_server(folder, args, ports or free_ports(3))
        if server is not None:
            return server
        assert attempt == 1  # launch_server fails the test for anything but the race
    raise AssertionError("unreachable")


def launch_server(folder: Path, args: tuple[str, ...], ports: list[int]) -> Server | None:
    """The ready server, or None when it exited on PyTriton's handshake race."""
    python = serve_python()
    http_port, grpc_port, metrics_port = ports
    log = folder / f"serve-{time.monotonic_ns()}.log"
    env = {**os.environ, "EDGEIMG_CACHE": str(folder / "cache")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(python),
                "-m",
                "edgeimg.cli.main",
                "serve",
                "--port",
                str(http_port),
                "--grpc-port",
                str(grpc_port),
                "--metrics-port",
                str(metrics_port),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    server = Server(process, http_port, log)
    deadline = time.monotonic() + 90
    url = f"http://127.0.0.1:{http_port}/v2/models/detector/ready"
    while True:
        if process.poll() is not None:
            triton_logs = (folder / "cache" / "serve").glob(f"*-{http_port}.log")
            if any(UPSTREAM_RACE in path.read_text(errors="replace") for path in triton_logs):
                return None
            pytest.fail(f"edgeimg serve exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"the detector was not ready within 90 s: {log.read_text()[-2000:]}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("serve"))
    yield running
    running.kill(signal.SIGTERM)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_same_detections(remote: Path, local: Path, frames: int) -> None:
    """Frame by frame the same boxes (within 0.01 px), scores (1e-4), classes and track ids:
    the server runs the same onnxruntime on the same tensors, batched."""
    a, b = records(remote), records(local)
    assert [r["frame"] for r in a] == [r["frame"] for r in b] == list(range(1, frames + 1))
    found = 0
    for ra, rb in zip(a, b, strict=True):
        da, db = ra["detections"], rb["detections"]
        assert len(da) == len(db), ra["frame"]
        found += len(da)
        if da:
            assert np.allclose([d["box"] for d in da], [d["box"] for d in db], atol=0.01)
            assert np.allclose([d["score"] for d in da], [d["score"] for d in db], atol=1e-4)
            assert [(d["class_id"], d["track_id"]) for d in da] == [
                (d["class_id"], d["track_id"]) for d in db
            ]
    assert found >= 2 * frames  # PETS has people in every frame


def test_predict_on_triton_equals_local_onnxruntime(server, pets_dir, tmp_path):
    video = str(pets_dir / "vtest.avi")
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    common = ["predict", video, "--frames", "8", "-q"]
    assert main([*common, "--backend", server.uri(), "-o", str(remote)]) == 0
    assert main([*common, "-o", str(local)]) == 0
    assert_same_detections(remote, local, 8)


def test_track_on_triton_equals_local_onnxruntime(server, pets_dir, tmp_path):
    """Tracking stays local: the same track ids from the server's tensors."""
    video = str(pets_dir / "vtest.avi")
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    common = ["track", "--source", video, "--frames", "12", "-q"]
    assert main([*common, "--backend", server.uri(), "--jsonl", str(remote)]) == 0
    assert main([*common, "--jsonl", str(local)]) == 0
    assert_same_detections(remote, local, 12)


def test_the_contract_is_in_the_served_config_and_the_backend_reads_it(server):
    client = http.InferenceServerClient(f"127.0.0.1:{server.port}")
    config = client.get_model_config("detector")
    served = json.loads(config["parameters"][METADATA_PARAMETER]["string_value"])
    backend = create_backend(bundled_model_path())
    assert served == backend.metadata
    assert "edgeimg.task" in served
    assert config["max_batch_size"] == 16
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 2000
    remote = create_backend("unused", server.uri())
    assert remote.metadata == backend.metadata
    assert [s.name for s in remote.outputs] == [s.name for s in backend.outputs]
    # a batch of 3 through the server equals onnxruntime's
    batch = np.random.default_rng(0).random((3, 3, 288, 384), dtype=np.float32)
    got, want = remote.run({"image": batch}), backend.run({"image": batch})
    for name in want:
        assert np.allclose(got[name], want[name], atol=1e-5)


def test_a_model_without_metadata_takes_its_contract_from_contract(pets_dir, tmp_path, capsys):
    """A served model whose ONNX file has no metadata (as from a plain tritonserver): a
    one-line error pointing at --contract, and with --contract FILE the same detections.
    Served without batching (each request alone) on two instances."""
    onnx = pytest.importorskip("onnx")
    from edgeimg.runtime.contract import ModelContract

    bare = onnx.load(str(bundled_model_path()))
    metadata = {p.key: p.value for p in bare.metadata_props}
    del bare.metadata_props[:]
    (tmp_path / "bare.onnx").write_bytes(bare.SerializeToString())
    contract = tmp_path / "contract.json"
    contract.write_text(json.dumps(ModelContract.from_metadata(metadata).to_dict()))
    bare_server = start_server(
        tmp_path, str(tmp_path / "bare.onnx"), "--name", "detector", "--max-batch", "0",
        "--instances", "2",
    )  # fmt: skip
    try:
        config = http.InferenceServerClient(f"127.0.0.1:{bare_server.port}").get_model_config(
            "detector"
        )
        assert config.get("max_batch_size", 0) == 0 and "dynamic_batching" not in config
        assert config["instance_group"][0]["count"] == 2
        assert json.loads(config["parameters"][METADATA_PARAMETER]["string_value"]) == {}
        video = str(pets_dir / "vtest.avi")
        common = ["predict", video, "--frames", "4", "-q", "--backend", bare_server.uri()]
        assert main([*common, "-o", str(tmp_path / "no.jsonl")]) == 2
        line = one_line_error(capsys)
        assert "model detector has no edgeimg metadata" in line and "--contract FILE" in line
        given = tmp_path / "given.jsonl"
        assert main([*common, "--contract", str(contract), "-o", str(given)]) == 0
    finally:
        bare_server.kill(signal.SIGTERM)
    local = tmp_path / "local.jsonl"
    assert main(["predict", video, "--frames", "4", "-q", "-o", str(local)]) == 0
    assert_same_detections(given, local, 4)


def test_a_model_name_the_server_lacks_is_one_line(server, pets_dir, tmp_path, capsys):
    code = main(["predict", str(pets_dir / "vtest.avi"), "--frames", "1", "--backend",
                 server.uri("people"), "-o", str(tmp_path / "x.jsonl")])  # fmt: skip
    assert code == 2
    line = one_line_error(capsys)
    assert line.endswith(
        f"triton server 127.0.0.1:{server.port}: expected a model named 'people', the server "
        "has no model of that name ready"  # PyTriton restricts listing its repository
    ), line
    assert not (tmp_path / "x.jsonl").exists()


def test_another_model_version_is_one_line(server, pets_dir, tmp_path, capsys):
    code = main(["track", "--source", str(pets_dir / "vtest.avi"), "--frames", "1", "--backend",
                 server.uri("detector/2"), "--jsonl", str(tmp_path / "x.jsonl")])  # fmt: skip
    assert code == 2
    line = one_line_error(capsys)
    assert line.endswith("expected model detector version 2, the server has version 1"), line


def test_no_server_at_the_address_is_one_line(pets_dir, tmp_path, capsys):
    (port,) = free_ports(1)
    code = main(["predict", str(pets_dir / "vtest.avi"), "--backend",
                 f"triton://127.0.0.1:{port}/detector", "-o", str(tmp_path / "x.jsonl")])  # fmt: skip
    assert code == 2
    line = one_line_error(capsys)
    assert line.endswith(f"triton server 127.0.0.1:{port}: not reachable (connection refused)")


def test_a_model_file_with_a_triton_backend_is_refused(server, pets_dir, capsys):
    code = main(["predict", str(bundled_model_path()), str(pets_dir / "vtest.avi"),
                 "--backend", server.uri()])  # fmt: skip
    assert code == 2
    assert "runs the server's model; expected no MODEL.onnx" in one_line_error(capsys)


@pytest.mark.parametrize(
    "uri, message",
    [
        ("triton://127.0.0.1/detector", "expected triton://HOST:PORT/MODEL"),
        ("triton://127.0.0.1:8000/", "expected triton://HOST:PORT/MODEL"),
        ("triton://127.0.0.1:8000/detector/one", "VERSION a number"),
        ("triton://127.0.0.1:8000/detector?timout=3", "unknown options timout; valid: timeout"),
        ("triton://127.0.0.1:8000/detector?timeout=0", "expected seconds > 0, got '0'"),
    ],
)
def test_bad_triton_uris_are_one_line(uri, message):
    with pytest.raises(Exception, match=message.replace("?", r"\?")):
        parse_triton_uri(uri)


@pytest.mark.parametrize(
    "backend, message",
    [
        ("onnxrt", "expected one of onnxruntime, opencv, openvino, auto or triton://..., "
                   "got 'onnxrt'"),
        ("grpc://127.0.0.1:8001/detector", "backend URI scheme: expected one of triton, got 'grpc'"),
    ],
)  # fmt: skip
def test_a_backend_that_is_neither_a_name_nor_a_known_uri_is_a_usage_error(
    backend, message, capsys
):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--backend", backend])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_uri_with_version_and_timeout():
    target = parse_triton_uri("triton://10.0.0.2:8000/detector/3?timeout=2.5")
    assert (target.url, target.model, target.version, target.timeout_s) == (
        "10.0.0.2:8000", "detector", "3", 2.5,
    )  # fmt: skip


def test_the_server_killed_mid_run_ends_cleanly_with_complete_outputs(pets_dir, tmp_path):
    """SIGKILL to the server's process group while `edgeimg track` runs: the client retries
    for ?timeout=3 s, then stops with one line and exit 2; its outputs are whole and hold the
    same frames (at least the ones done before the kill)."""
    killed = start_server(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    track = subprocess.Popen(
        [sys.executable, "-m", "edgeimg.cli.main", "track", "--source", str(pets_dir / "vtest.avi"),
         "--backend", killed.uri(query="?timeout=3"),
         "--output", "t.mp4", "--mot", "t.txt", "--jsonl", "t.jsonl"],
        cwd=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        temp = out / f".t.partial-{track.pid}.jsonl"
        deadline = time.monotonic() + 60
        while not (temp.is_file() and temp.read_bytes().count(b"\n") >= 10):
            assert track.poll() is None, track.communicate()
            assert time.monotonic() < deadline, "no 10 frames within 60 s"
            time.sleep(0.05)
        before = time.monotonic()
        killed.kill(signal.SIGKILL)
        _, err = track.communicate(timeout=60)
    finally:
        killed.kill()
        if track.poll() is None:
            track.kill()
    waited = time.monotonic() - before
    assert track.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert last.startswith(f"edgeimg track: error: triton server 127.0.0.1:{killed.port}: "
                           "no answer for 3."), last  # fmt: skip
    assert "retries" in last and "outputs complete for those" in last
    assert 2.5 < waited < 20
    frames = assert_complete_and_consistent(out)
    assert 10 <= frames < 795
    assert f"stopped after {frames} frames" in last


def test_a_server_back_within_the_timeout_loses_no_frame(pets_dir, tmp_path):
    """The server dies and a new one starts on the same ports within ?timeout=60: the run
    waits (retrying with backoff), goes on, and every frame is in the outputs."""
    ports = free_ports(3)
    first = start_server(tmp_path, ports=ports)
    out = tmp_path / "out"
    out.mkdir()
    track = subprocess.Popen(
        [sys.executable, "-m", "edgeimg.cli.main", "track", "--source", str(pets_dir / "vtest.avi"),
         "--frames", "60", "--backend", first.uri(query="?timeout=60"),
         "--output", "t.mp4", "--mot", "t.txt", "--jsonl", "t.jsonl"],
        cwd=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    second = None
    try:
        temp = out / f".t.partial-{track.pid}.jsonl"
        deadline = time.monotonic() + 60
        while not (temp.is_file() and temp.read_bytes().count(b"\n") >= 5):
            assert track.poll() is None, track.communicate()
            assert time.monotonic() < deadline, "no 5 frames within 60 s"
            time.sleep(0.05)
        first.kill(signal.SIGKILL)
        second = start_server(tmp_path, ports=ports)
        _, err = track.communicate(timeout=120)
    finally:
        first.kill()
        if second is not None:
            second.kill(signal.SIGTERM)
        if track.poll() is None:
            track.kill()
    assert track.returncode == 0, err
    # refused, or closed when the kill catches a request in flight
    assert f"triton server 127.0.0.1:{ports[0]}: connection " in err
    assert "; retrying for up to 60 s" in err
    assert "answering again after" in err
    assert assert_complete_and_consistent(out) == 60


# -- the interpreter: checked before PyTriton is imported ---------------------------------


@pytest.mark.parametrize(
    "config, problem",
    [
        ({"VERSION": "3.11", "Py_ENABLE_SHARED": 0, "LDLIBRARY": "libpython3.11.a"},
         "has no shared libpython3.11 (built without --enable-shared)"),
        ({"VERSION": "3.11", "Py_ENABLE_SHARED": 1, "LDLIBRARY": "libpython3.11.a",
          "INSTSONAME": "", "LIBDIR": "/opt/py/lib"}, "has no shared libpython3.11"),
        ({"VERSION": "3.11", "Py_ENABLE_SHARED": 1, "LDLIBRARY": "libpython3.11.so",
          "INSTSONAME": "libpython3.11.so.1.0", "LIBDIR": "/nowhere"},
         "has no libpython3.11 shared library in /nowhere"),
        ({"VERSION": "3.11", "Py_ENABLE_SHARED": 1, "LDLIBRARY": "libpython3.11.so",
          "INSTSONAME": "libpython3.11.so.1.0", "LIBDIR": "/usr/lib/x86_64-linux-gnu"}, None),
    ],
)  # fmt: skip
def test_which_interpreters_triton_can_embed(config, problem):
    found = interpreter_problem(config, exists=lambda p: str(p).startswith("/usr/lib/"))
    assert found == problem if problem is None else found is not None and problem in found


def test_a_python_without_shared_libpython_is_one_line_before_anything(monkeypatch, capsys):
    """A static build (pyenv without --enable-shared): `edgeimg serve` says so in one line
    before importing PyTriton or starting anything (no static Python here: its sysconfig)."""
    import sysconfig

    static = {**sysconfig.get_config_vars(), "Py_ENABLE_SHARED": 0, "LDLIBRARY": "libpython.a"}
    monkeypatch.setattr(sysconfig, "get_config_vars", lambda *a: static)
    assert main(["serve", "--port", "1"]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"edgeimg serve: error: this Python ({sys.executable}, ")
    assert "has no shared libpython" in line and "/usr/bin/python3 -m venv .venv-serve" in line


def test_a_python_pytriton_has_no_stub_for_is_one_line(tmp_path):
    from edgeimg.runtime.serve import ServeError, check_stub

    for version in ("3.10", "3.11", "3.9"):
        stub = tmp_path / "tritonserver" / "python_backend_stubs" / version
        stub.mkdir(parents=True)
        (stub / "triton_python_backend_stub").write_bytes(b"")
    check_stub(tmp_path, (3, 11))
    with pytest.raises(ServeError, match=r"stubs for Python 3\.9, 3\.10, 3\.11, not 3\.14: "):
        check_stub(tmp_path, (3, 14))


def test_a_port_in_use_is_one_line_before_anything(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        http_port, metrics_port = free_ports(2)
        code = main(["serve", "--port", str(http_port), "--grpc-port", str(port),
                     "--metrics-port", str(metrics_port)])  # fmt: skip
    assert code == 2
    line = one_line_error(capsys)
    assert line.startswith(f"edgeimg serve: error: --grpc-port {port}: expected a free port on ")
    assert "address already in use (another server running?)" in line


def test_the_stub_is_pointed_at_this_interpreters_libpython():
    env = {"LD_LIBRARY_PATH": "/a:/opt/py/lib:/b"}
    use_own_libpython(Path("/opt/py/lib"), env)
    assert env["LD_LIBRARY_PATH"] == "/opt/py/lib:/a:/b"
    fresh: dict[str, str] = {}
    use_own_libpython(Path("/opt/py/lib"), fresh)
    assert fresh == {"LD_LIBRARY_PATH": "/opt/py/lib"}
