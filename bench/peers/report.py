"""Tables and JSON of the peers comparison."""

from __future__ import annotations

from edgeimg.bench.peers.models import PeersResult
from edgeimg.bench.report import format_table


def peers_table(result: PeersResult, reference: tuple[str, str] | None = None) -> str:
    """One row per peer: latency percentiles (ms), ratio to edgeimg's best p50 (or to the
    fastest ``reference`` = (engine, precision) row, e.g. ("litert", "int8")), accuracy."""
    best = result.reference(*reference) if reference else result.edgeimg_best()
    name = f"x {' '.join(reference)}" if reference else "x edgeimg best"
    rows = []
    for r in result.rows:
        if r.stats is None:
            continue
        s = r.stats
        ratio = s.p50_ms / best.stats.p50_ms if best is not None else float("nan")
        rows.append(
            (r.spec.label, s.p50_ms, s.p90_ms, s.p99_ms, s.mean_ms, ratio, r.accuracy, r.spec.note)
        )
    headers = ("peer", "p50", "p90", "p99", "mean", name, result.metric, "note")
    text = format_table(headers, rows)
    skipped = [f"skipped {r.spec.label}: {r.skipped}" for r in result.rows if r.stats is None]
    return "\n".join([text, *skipped])


def peers_payload(result: PeersResult) -> dict[str, object]:
    best = result.edgeimg_best()
    rows = []
    for r in result.rows:
        row: dict[str, object] = {
            "peer": r.spec.label,
            "engine": r.spec.engine,
            "precision": r.spec.precision,
            "threads": r.spec.threads,
            "note": r.spec.note,
            result.metric: r.accuracy,
        }
        if r.stats is not None:
            row.update(r.stats.to_dict())
            if best is not None:
                row["x_edgeimg_best"] = r.stats.p50_ms / best.stats.p50_ms
        else:
            row["skipped"] = r.skipped
        rows.append(row)
    return {"metric": result.metric, "samples": result.samples, "rows": rows}
