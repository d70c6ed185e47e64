"""Give u2netp's upsampling constant scales so onnxruntime keeps its fast NCHWc layout throughout.

The published u2netp graph computes every Resize target size at run time (Shape -> Gather -> ...),
so onnxruntime's NCHWc transformer cannot convert those 38 Resize nodes and wraps each in layout
reorders: 107 extra copies of 320x320 feature maps. The input is fixed at 1x3x320x320, so every
scale is known: inside the U-blocks each upsample doubles; the six 1-channel side outputs go back
to 320. With constant scales and ``half_pixel`` coordinates (identical to ``pytorch_half_pixel``
whenever the output is wider than one pixel, as all are here) onnxruntime converts all of them.

Measured on the CI machine: peak inference memory 352 -> 286 MB; outputs equal within 2e-5
(tests/core/test_static_resize.py). The model file is untouched and still verified by its md5;
the rewritten graph is cached beside the user's other caches (``prepared_graph``), so later runs
load it from a file without importing ``onnx``: that saves another ~25 MB of the session's memory.
The packaged app ships the graph already rewritten (made and verified by fibuca.spec), so it needs
neither ``onnx`` nor a first-run rewrite.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
from pathlib import Path

import numpy as np

from fibuca_desktop.core.atomic_write import write_atomically
from fibuca_desktop.core.errors import OutputError
from fibuca_desktop.core.resources import bundled_models_dir

log = logging.getLogger(__name__)

REWRITE_VERSION = 1  # bump when the rewrite changes, so stale cached graphs are ignored


def cache_dir() -> Path:
    """Per-user cache: ``$FIBUCA_CACHE_DIR``, else the platform's cache folder."""
    if os.environ.get("FIBUCA_CACHE_DIR"):
        return Path(os.environ["FIBUCA_CACHE_DIR"])
    if sys.platform == "win32":
        root = os.environ.get("LOCALAPPDATA", "~")
    elif sys.platform == "darwin":
        root = "~/Library/Caches"
    else:
        root = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    return Path(root).expanduser() / "fibuca-desktop"


def graph_filename(name: str, source_md5: str) -> str:
    """The rewritten graph's file name: the verified source's md5 and the rewrite version."""
    return f"{name}.{source_md5[:12]}.static-v{REWRITE_VERSION}.onnx"


def verified_graph(path: Path) -> bool:
    """Whether ``path`` matches the md5 kept beside it (``<name>.md5``)."""
    with contextlib.suppress(OSError):
        return path.with_suffix(".md5").read_text().strip() == _md5(path)
    return False


def prepared_graph(source: Path, source_md5: str, input_size: int = 320) -> Path:
    """The rewritten graph: the bundle's, else the cached file made on first use; ``source`` if it
    cannot be made.

    Every copy is named by ``graph_filename`` and its own md5, kept beside it, is checked before
    every use.
    """
    name = graph_filename(source.stem, source_md5)
    bundled = bundled_models_dir()
    if bundled is not None and verified_graph(bundled / name):
        return bundled / name
    folder = cache_dir() / "models"
    target = folder / name
    stamp = target.with_suffix(".md5")
    if verified_graph(target):
        return target
    graph = rewrite_u2net_resizes(source, input_size)
    if graph is None:
        return source
    try:
        for path, data in ((target, graph), (stamp, hashlib.md5(graph).hexdigest().encode())):
            write_atomically(path, lambda handle, data=data: handle.write(data), overwrite=True)
    except OutputError as error:
        log.warning(
            "cannot cache the rewritten graph in %s (%s); using the model as published",
            folder,
            error,
        )
        return source
    return target


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def rewrite_u2net_resizes(path: Path, input_size: int = 320) -> bytes | None:
    """The serialized, rewritten model; None when ``onnx`` is missing or the graph is unexpected."""
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:
        log.info("onnx is not installed; using the model's dynamic Resize nodes as published")
        return None
    model = onnx.load(str(path))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    if dims != [1, 3, input_size, input_size]:
        log.warning("unexpected input shape %s; %s left as published", dims, path.name)
        return None
    inferred = shape_inference.infer_shapes(model)
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in [*inferred.graph.value_info, *inferred.graph.input]
    }
    resizes = [node for node in model.graph.node if node.op_type == "Resize"]
    for node in resizes:
        shape = shapes.get(node.input[0])
        if not shape or len(shape) != 4 or not shape[2] or input_size % shape[2]:
            log.warning("cannot infer the input of %s; %s left as published", node.name, path.name)
            return None
        scale = input_size / shape[2] if shape[1] == 1 else 2.0  # side output or U-block step
        scales_name, roi_name = node.output[0] + "_scales", node.output[0] + "_roi"
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), scales_name),
                numpy_helper.from_array(np.array([], np.float32), roi_name),
            ]
        )
        source = node.input[0]
        del node.input[:]
        node.input.extend([source, roi_name, scales_name])
        for attribute in node.attribute:
            if attribute.name == "coordinate_transformation_mode":
                attribute.s = b"half_pixel"
    _drop_dead_nodes(model.graph)
    log.info("rewrote %d Resize nodes of %s with constant scales", len(resizes), path.name)
    return model.SerializeToString()


def _drop_dead_nodes(graph) -> None:
    """Remove the size computations nothing reads any more, and their constants."""
    while True:
        used = {name for node in graph.node for name in node.input}
        used.update(output.name for output in graph.output)
        dead = [node for node in graph.node if not any(out in used for out in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for initializer in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(initializer)
