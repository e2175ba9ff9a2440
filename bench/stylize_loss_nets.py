"""Which loss network for style transfer: Gatys' optimisation in each candidate, every result
judged in every candidate, and a picture.

    python -m edgeimg.bench.stylize_loss_nets --style starry_night.jpg
        --photos ../shared/data/CamVid/val [--nets camvid-seg,random-vgg16] [--count 2]
        [--size 256] [--steps 200] [--picture nets.png] [--json out.json]

For each of ``--count`` photos (evenly picked from ``--photos``, long side ``--size``) and each
loss network of ``--nets`` (any ``--loss-net`` spec: ``camvid-seg``, ``random-vgg16``, a
``.keras`` model, VGG ``.h5`` weights), Gatys' optimisation runs ``--steps`` steps from the
photo (the default weights: content 1, style 5, TV 10). The table gives, per optimising network,
the mean weighted loss of the photo itself and of the result in every network (so a network
that is easy to satisfy without looking like the painting shows up in the others' eyes) and
the seconds per image. ``--picture``: one row per photo, photo | style | the result of each
network.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from edgeimg.bench.machine import machine_report
from edgeimg.runtime.errors import EdgeimgError


def run(args: argparse.Namespace) -> dict:
    import cv2

    from edgeimg.export.perceptual import PerceptualLoss, loss_network
    from edgeimg.runtime.sinks import write_image
    from edgeimg.train.tasks.stylize.data import fit_to_multiple, read_style
    from edgeimg.train.tasks.stylize.gatys import optimize
    from edgeimg.train.tasks.upscale.data import list_images, read_rgb

    nets = [n for n in args.nets.split(",") if n]
    if not nets or args.count < 1 or args.steps < 1 or args.size < 32:
        raise EdgeimgError(
            "expected --nets with at least one network, --count >= 1, --steps >= 1, --size >= 32"
        )
    style = read_style(args.style)
    files = list_images(args.photos)
    pick = np.unique(np.linspace(0, len(files) - 1, args.count).round().astype(int))
    photos = [fit_to_multiple(read_rgb(files[i]), args.size, 8) for i in pick]
    losses = {name: PerceptualLoss(loss_network(name, 0), style) for name in nets}
    rows, results = [], {name: {"seconds": [], "photo": {}, "result": {}} for name in nets}
    for photo in photos:
        x = photo[None].astype(np.float32)
        row = [photo, cv2.resize(style, (photo.shape[1], photo.shape[0]))]
        before = {judge: asdict(losses[judge].measure(x, x)) for judge in nets}  # the photo's own
        for name in nets:
            tick = time.perf_counter()
            out = optimize(losses[name], photo, args.steps).image
            results[name]["seconds"].append(time.perf_counter() - tick)
            for judge in nets:
                after = asdict(losses[judge].measure(out[None].astype(np.float32), x))
                results[name]["photo"].setdefault(judge, []).append(before[judge])
                results[name]["result"].setdefault(judge, []).append(after)
            row.append(out)
        rows.append(np.hstack(row))
    if args.picture is not None:
        write_image(args.picture, np.vstack(rows)[..., ::-1])
    return {"nets": nets, "steps": args.steps, "size": args.size, "results": results}


def mean(items: list[dict], key: str) -> float:
    return float(np.mean([item[key] for item in items]))


def table(report: dict) -> str:
    nets = report["nets"]
    head = " | ".join(f"judged by {judge}: photo -> result" for judge in nets)
    lines = [f"| Gatys in | {head} | s/image |", "| --- |" + " ---: |" * (len(nets) + 1)]
    for name in nets:
        res = report["results"][name]
        cells = [
            f"{mean(res['photo'][j], 'total'):.2f} -> {mean(res['result'][j], 'total'):.2f}"
            for j in nets
        ]
        lines.append(f"| {name} | {' | '.join(cells)} | {np.mean(res['seconds']):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgeimg.bench.stylize_loss_nets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--style", type=Path, required=True, help="the style image")
    parser.add_argument("--photos", type=Path, required=True, help="a folder of content photos")
    parser.add_argument("--nets", default="camvid-seg,random-vgg16", help="loss networks")
    parser.add_argument("--count", type=int, default=2, help="photos (2)")
    parser.add_argument("--size", type=int, default=256, help="their long side (256)")
    parser.add_argument("--steps", type=int, default=200, help="Gatys steps (200)")
    parser.add_argument("--picture", type=Path, help="write the side-by-side PNG here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        report = {"machine": machine_report(), **run(args)}
    except EdgeimgError as exc:
        print(f"stylize_loss_nets: error: {exc}", file=sys.stderr)
        return 2
    print(table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
