"""One benchmark variant, run in a fresh process: ``python bench_worker.py MODE SPEC_JSON``.

Each mode imports only what it measures, times it, and prints one JSON object on its last stdout
line. Peak memory is the process's own: ``VmHWM`` from ``/proc/self/status`` (the high-water mark
of this process image) next to ``getrusage`` ``ru_maxrss``. On Linux ``ru_maxrss`` carries over
the parent's resident size across fork and exec, so it is only trustworthy when the parent is
small; the driver keeps itself small and reports both.

Warm-up policy, the same for every variant: imports, session creation and one first inference
are done before the clock starts and reported as ``setup_seconds``; throughput covers the images
only.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

_MB = 1024 * 1024


def memory_snapshot() -> dict:
    """Current RSS, peak RSS (VmHWM) and ru_maxrss of this process, in MB."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"], "ru_maxrss_mb": ru_maxrss}


class ForeignLoad:
    """CPU time the rest of the machine used while this process was being measured.

    The machine is shared: another busy process slows onnxruntime's two-thread inference 2-3x.
    Busy time of all CPUs from ``/proc/stat`` minus this process's own CPU time, divided by the
    wall time, is how many cores others kept busy (0 = a quiet machine, 1 = one core taken).
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return time.perf_counter(), busy, usage.ru_utime + usage.ru_stime

    def cores(self) -> float:
        wall, busy, own = (
            end - start for end, start in zip(self._sample(), self._start, strict=True)
        )
        return max(0.0, busy - own) / wall if wall > 0 else 0.0


def _warm_up_image():
    from PIL import Image

    return Image.new("RGB", (640, 480), (200, 120, 40))


def run_rembg(spec: dict) -> dict:
    """rembg as the server uses it: one shared session, ``remove(bytes)``, PNG bytes to a file."""
    started = time.perf_counter()
    from rembg import new_session, remove

    import_seconds = time.perf_counter() - started
    session = new_session("u2netp")
    session.predict(_warm_up_image())
    model_path = str(type(session).download_models())  # the file rembg resolved, no download
    setup_seconds = time.perf_counter() - started
    setup_memory = memory_snapshot()
    out_dir = Path(spec["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    per_image, total_bytes = [], 0
    foreign = ForeignLoad()
    clock = time.perf_counter()
    for index, name in enumerate(spec["inputs"]):
        one = time.perf_counter()
        with open(name, "rb") as handle:
            data = remove(handle.read(), session=session)
        target = out_dir / f"{index:03d}-{Path(name).stem}.png"
        target.write_bytes(data)
        total_bytes += len(data)
        per_image.append(time.perf_counter() - one)
    wall = time.perf_counter() - clock
    return _result(
        spec,
        wall,
        per_image,
        total_bytes,
        setup_seconds,
        setup_memory,
        foreign.cores(),
        import_seconds=import_seconds,
        model_path=model_path,
    )


def run_ours(spec: dict) -> dict:
    """The pipeline as ``fibuca-desktop process`` assembles it, timed around ``run_batch``.

    The assembly mirrors ``cli/process_command.run``; keep the two in step. ``jobs_budget_mb``
    sets the budget left for the jobs once the scheduler has reserved the model's memory.
    """
    started = time.perf_counter()
    from fibuca_desktop.core.imaging.batch import Job
    from fibuca_desktop.core.imaging.pipeline import PROCESSED
    from fibuca_desktop.core.process_memory import limit_malloc_arenas

    limit_malloc_arenas()  # as fibuca_desktop.__main__.main does, before any thread starts

    import_seconds = time.perf_counter() - started
    pipeline, scheduler = _assemble(spec, spec.get("budget_mb"))
    if spec.get("jobs_budget_mb"):
        model_reserve_mb = (scheduler.capacity.budget_bytes - scheduler.budget.total) / _MB
        budget_mb = round(model_reserve_mb + spec["jobs_budget_mb"])
        pipeline, scheduler = _assemble(spec, budget_mb)
    pipeline.engines.get(pipeline.model).predict(_warm_up_image())
    setup_seconds = time.perf_counter() - started
    setup_memory = memory_snapshot()
    out_dir = Path(spec["output_dir"])
    extension = pipeline.preset.extension
    jobs = [
        Job(Path(name).resolve(), (out_dir / f"{i:03d}-{Path(name).stem}{extension}").resolve())
        for i, name in enumerate(spec["inputs"])
    ]
    estimates = [pipeline.estimate_bytes(pipeline.header(job)) / _MB for job in jobs]
    foreign = ForeignLoad()
    clock = time.perf_counter()
    results = scheduler.run_batch(jobs)
    wall = time.perf_counter() - clock
    failed = [f"{r.input.name}: {r.message}" for r in results if r.status != PROCESSED]
    total_bytes = sum(r.output.stat().st_size for r in results if r.status == PROCESSED)
    return _result(
        spec,
        wall,
        [r.ms / 1000 for r in results],
        total_bytes,
        setup_seconds,
        setup_memory,
        foreign.cores(),
        import_seconds=import_seconds,
        failed=failed,
        model_path=str(pipeline.engines.store.path(pipeline.model)),
        capacity=scheduler.capacity.describe(),
        estimate_mb_max=max(estimates),
        scheduler_jobs_budget_mb=scheduler.budget.total / _MB,
        budget_peak_mb=scheduler.budget.peak / _MB,
    )


def _assemble(spec: dict, budget_mb: int | None):
    """(Pipeline, Scheduler) exactly as the CLI builds them, overwrite on; ``spec["edges"]``,
    when set, is the ``--edges`` option (refined | rembg)."""
    from fibuca_desktop.core.imaging.decode import Limits
    from fibuca_desktop.core.imaging.engine import EngineProvider, SessionTuning
    from fibuca_desktop.core.imaging.models import ModelStore
    from fibuca_desktop.core.imaging.pipeline import Pipeline
    from fibuca_desktop.core.imaging.presets import get_preset
    from fibuca_desktop.core.imaging.scheduler import Scheduler, machine_capacity

    preset = get_preset(spec["preset"]).with_options(edges=spec.get("edges") or None)
    store = ModelStore()
    store.path("u2netp")  # the verified file, as the CLI checks before it starts
    # workers None = the CLI's default for this preset (one for small outputs such as web)
    capacity = machine_capacity(spec.get("workers"), budget_mb, small_outputs=preset.small_output)
    engines = EngineProvider(
        store,
        capacity.threads_per_inference,
        SessionTuning.named(spec["tuning"]),
        capacity.inference_slots,
    )
    pipeline = Pipeline(engines, preset, "u2netp", Limits(), overwrite=True)
    return pipeline, Scheduler(pipeline, capacity)


def run_bare(spec: dict) -> dict:
    """onnxruntime alone with its default SessionOptions: one 1x3x320x320 run per image."""
    started = time.perf_counter()
    import numpy as np
    import onnxruntime as ort

    import_seconds = time.perf_counter() - started
    options = ort.SessionOptions()
    session = ort.InferenceSession(spec["model_path"], options, providers=["CPUExecutionProvider"])
    feed = {
        session.get_inputs()[0].name: np.random.default_rng(0).standard_normal(
            (1, 3, 320, 320), dtype=np.float32
        )
    }
    session.run(None, feed)
    setup_seconds = time.perf_counter() - started
    setup_memory = memory_snapshot()
    per_image = []
    foreign = ForeignLoad()
    clock = time.perf_counter()
    for _ in spec["inputs"]:
        one = time.perf_counter()
        session.run(None, feed)
        per_image.append(time.perf_counter() - one)
    wall = time.perf_counter() - clock
    return _result(
        spec,
        wall,
        per_image,
        0,
        setup_seconds,
        setup_memory,
        foreign.cores(),
        import_seconds=import_seconds,
        model_path=spec["model_path"],
        intra_op_threads=options.intra_op_num_threads,
    )


def _result(
    spec: dict,
    wall: float,
    per_image: list[float],
    total_bytes: int,
    setup_seconds: float,
    setup_memory: dict,
    foreign_cores: float,
    **extra,
) -> dict:
    peak = memory_snapshot()
    return {
        "name": spec["name"],
        "images": len(spec["inputs"]),
        "wall_seconds": wall,
        "per_image_seconds": per_image,
        "output_bytes": total_bytes,
        "setup_seconds": setup_seconds,
        "rss_after_setup_mb": setup_memory["rss_mb"],
        "peak_rss_mb": peak["peak_rss_mb"],
        "ru_maxrss_mb": peak["ru_maxrss_mb"],
        "foreign_cores": foreign_cores,
        "failed": [],
        **extra,
    }


def prepare_inputs(spec: dict) -> dict:
    """Copy the photos as they are, and write ~``megapixels`` MP JPEG (q92, RGB) upscales."""
    import shutil

    from PIL import Image, ImageOps

    original_dir, large_dir = Path(spec["original_dir"]), Path(spec["large_dir"])
    original_dir.mkdir(parents=True, exist_ok=True)
    large_dir.mkdir(parents=True, exist_ok=True)
    originals, large, sizes = [], [], {}
    for source in map(Path, spec["photos"]):
        copy = original_dir / source.name
        shutil.copyfile(source, copy)
        originals.append(str(copy))
        with Image.open(source) as image:
            upright = ImageOps.exif_transpose(image)
            rgb = _on_white(upright)
        scale = (spec["megapixels"] * 1e6 / (rgb.width * rgb.height)) ** 0.5
        size = (round(rgb.width * scale), round(rgb.height * scale))
        target = large_dir / f"{source.stem}.jpg"
        rgb.resize(size, Image.Resampling.LANCZOS).save(target, "JPEG", quality=92)
        large.append(str(target))
        sizes[source.name] = [rgb.size, size]
    return {"original": originals, "large": large, "sizes": sizes}


def _on_white(image):
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, (0, 0), rgba)
        return white
    return image.convert("RGB")


def mask_iou(spec: dict) -> dict:
    """Per pair of RGBA outputs: IoU of alpha >= 128, and our file's bytes over theirs."""
    import numpy as np
    from PIL import Image

    scores, bytes_ratio = {}, {}
    for ours, theirs in spec["pairs"]:
        with Image.open(ours) as a, Image.open(theirs) as b:
            mask_a = np.asarray(a.getchannel("A")) >= 128
            mask_b = np.asarray(b.getchannel("A")) >= 128
        if mask_a.shape != mask_b.shape:
            raise SystemExit(f"size mismatch: {ours} {mask_a.shape} vs {theirs} {mask_b.shape}")
        union = np.logical_or(mask_a, mask_b).sum()
        name = Path(ours).name
        scores[name] = float(np.logical_and(mask_a, mask_b).sum() / union) if union else 1.0
        bytes_ratio[name] = os.path.getsize(ours) / os.path.getsize(theirs)
    values = list(scores.values())
    return {
        "min": min(values),
        "mean": sum(values) / len(values),
        "per_image": scores,
        "bytes_ratio": bytes_ratio,
    }


MODES = {
    "rembg": run_rembg,
    "ours": run_ours,
    "bare": run_bare,
    "prepare": prepare_inputs,
    "iou": mask_iou,
}

if __name__ == "__main__":
    mode, spec_json = sys.argv[1], sys.argv[2]
    print(json.dumps(MODES[mode](json.loads(spec_json))))
