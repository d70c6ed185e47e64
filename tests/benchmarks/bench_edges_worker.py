"""One step of the edge benchmark in a fresh process: ``python bench_edges_worker.py MODE SPEC``.

Modes: ``generate`` writes the synthetic set with its truth (tests/matting_set.py); ``cutout``
runs one method over every photo, timing each and taking each photo's own peak RSS (the
process's high-water mark is reset before every photo by writing 5 to /proc/self/clear_refs);
``score`` computes the metrics (tests/matting_metrics.py) of every method's outputs. The last
stdout line is one JSON object, as in bench_worker.py, whose memory and load helpers this reuses.

Warm-up, the same for every method: imports, session creation and one whole cut-out of a small
photo (so numba's compilation in rembg's alpha matting and decontamination is not timed).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench_worker import ForeignLoad, _assemble, memory_snapshot

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))  # tests.matting_set, and this checkout's fibuca_desktop

REMBG_OPTIONS = {
    "rembg": {},
    "rembg decontaminate": {"decontaminate": True},
    "rembg alpha matting": {"alpha_matting": True},
}
OURS_EDGES = {"ours edges=rembg": "rembg", "ours edges=refined": "refined"}
METHODS = (*REMBG_OPTIONS, *OURS_EDGES)


def generate(spec: dict) -> dict:
    from tests.matting_set import generate as render
    from tests.matting_set import save_truth

    folder = Path(spec["folder"])
    samples = []
    for case in spec["cases"]:
        started = time.perf_counter()
        sample = render(case, tuple(spec["size"]), spec["seed"])
        seconds = time.perf_counter() - started
        paths = save_truth(sample, folder)
        samples.append(
            {
                "case": case,
                "backdrop": sample.backdrop,
                "image": str(paths["image"]),
                "seconds": seconds,
                "jpeg_bytes": len(sample.jpeg),
            }
        )
        del sample
    return {"samples": samples, "peak_rss_mb": memory_snapshot()["peak_rss_mb"]}


def _rembg_method(options: dict):
    from rembg import new_session, remove

    session = new_session("u2netp")
    model_path = str(type(session).download_models())  # the file rembg resolved, no download

    def cut(source: Path, target: Path) -> None:
        target.write_bytes(remove(source.read_bytes(), session=session, **options))

    return cut, model_path


def _ours_method(edges: str):
    from fibuca_desktop.core.imaging.batch import Job
    from fibuca_desktop.core.imaging.pipeline import PROCESSED

    spec = {"preset": "transparent", "workers": 1, "tuning": "fast", "edges": edges}
    pipeline, _ = _assemble(spec, None)

    def cut(source: Path, target: Path) -> None:
        result = pipeline.process(Job(source.resolve(), target.resolve()))
        if result.status != PROCESSED:
            raise RuntimeError(f"{source.name}: {result.status}: {result.message}")

    return cut, str(pipeline.engines.store.path(pipeline.model))


def _reset_peak() -> bool:
    """Make VmHWM start again from the current RSS (Linux 4.0+); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _warm_up_photo(folder: Path) -> Path:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 480), (60, 150, 70))
    ImageDraw.Draw(image).ellipse((200, 120, 440, 400), fill=(200, 60, 40))
    path = folder / "warm-up.jpg"
    image.save(path, quality=92)
    return path


def cutout(spec: dict) -> dict:
    """One method over every photo: per photo seconds and peak RSS, PNGs into output_dir."""
    method = spec["method"]
    out_dir = Path(spec["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if method in REMBG_OPTIONS:
        cut, model_path = _rembg_method(REMBG_OPTIONS[method])
    else:
        cut, model_path = _ours_method(OURS_EDGES[method])
    warm = _warm_up_photo(out_dir)
    cut(warm, out_dir / "warm-up.png")
    setup_seconds = time.perf_counter() - started
    setup = memory_snapshot()
    per_image, failed = [], []
    foreign = ForeignLoad()
    for name in spec["inputs"]:
        source = Path(name)
        resettable = _reset_peak()
        one = time.perf_counter()
        try:
            cut(source, out_dir / f"{source.stem}.png")
        except Exception as error:  # one failed photo is reported, the others still run
            failed.append(f"{source.name}: {error!r}")
        seconds = time.perf_counter() - one
        per_image.append(
            {
                "image": source.name,
                "seconds": seconds,
                "peak_rss_mb": memory_snapshot()["peak_rss_mb"],
                "own_peak": resettable,
            }
        )
    return {
        "method": method,
        "setup_seconds": setup_seconds,
        "rss_after_setup_mb": setup["rss_mb"],
        "per_image": per_image,
        "foreign_cores": foreign.cores(),
        "failed": failed,
        "model_path": model_path,
    }


def score(spec: dict) -> dict:
    """Metrics of every method's output for every photo; None where an output is missing."""
    import numpy as np
    from PIL import Image

    from tests.matting_metrics import evaluate, prepare_truth
    from tests.matting_set import load_truth

    results: dict[str, dict[str, dict | None]] = {}
    same_as_rembg: dict[str, list[int]] = {}  # largest difference, pixels
    for name in spec["inputs"]:
        image = Path(name)
        alpha, foreground = load_truth(image)
        truth = prepare_truth(np.asarray(alpha), np.asarray(foreground))
        scores = {}
        outputs = {}
        for method, folder in spec["outputs"].items():
            path = Path(folder) / f"{image.stem}.png"
            if not path.exists():
                scores[method] = None
                continue
            with Image.open(path) as output:
                rgba = np.asarray(output.convert("RGBA"))
            scores[method] = evaluate(rgba, truth)
            if method in ("rembg", "ours edges=rembg"):
                outputs[method] = rgba[..., 3]
        if len(outputs) == 2:  # --edges rembg must give rembg's alpha exactly
            difference = np.abs(outputs["rembg"].astype(np.int16) - outputs["ours edges=rembg"])
            same_as_rembg[image.name] = [int(difference.max()), int(np.count_nonzero(difference))]
        results[image.name] = scores
        del truth, outputs
    return {"scores": results, "max_alpha_difference_vs_rembg": same_as_rembg}


MODES = {"generate": generate, "cutout": cutout, "score": score}

if __name__ == "__main__":
    mode, spec_json = sys.argv[1], sys.argv[2]
    print(json.dumps(MODES[mode](json.loads(spec_json))))
