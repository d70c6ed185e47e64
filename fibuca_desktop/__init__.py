"""Fibuca Desktop: photo work on staff computers, and tools that keep Fibuca's server healthy."""

import os

# numpy's OpenBLAS starts a thread per core for the edge refinement's small matrix products and
# keeps them spinning beside onnxruntime's threads and the other workers: 6 photos at 12 MP with
# 2 workers took 3.77 s instead of 3.09 s. The parallelism is the workers'. This must happen
# before numpy loads its BLAS, so here, first; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
