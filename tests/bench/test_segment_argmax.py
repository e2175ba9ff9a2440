"""The argmax placement bench: the in-graph ArgMax variant gives the runtime's mask exactly."""

from __future__ import annotations

import numpy as np

from edgeimg.bench.harness import RunPlan
from edgeimg.bench.segment_argmax import compare, main
from edgeimg.runtime.model import bundled_model_path


def test_in_graph_argmax_gives_the_same_mask_and_both_are_timed():
    frame = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    plan = RunPlan(warmup=1, iterations=2, rounds=1)
    result = compare(bundled_model_path("segment"), frame, 1, plan)
    assert result["agree"] == 1.0
    assert result["numpy argmax p50 ms"] > 0 and result["in-graph ArgMax p50 ms"] > 0


def test_a_model_of_another_task_is_one_line(capsys):
    assert main(["--model", str(bundled_model_path("detect")), "--iterations", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected a segment model, got detect" in err[0]
