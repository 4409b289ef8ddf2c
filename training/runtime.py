"""Thread limits, so that several training processes share a machine without oversubscribing it."""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits


def limit_threads(threads: int) -> None:
    """Cap BLAS/OpenMP and TensorFlow to `threads` in this process. TensorFlow takes its limits
    only before it first runs an op; later calls keep whatever it already uses."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    threadpool_limits(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already initialised: its pools are fixed for this process.
