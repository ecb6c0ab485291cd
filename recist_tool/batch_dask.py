"""Run the chunks of a batch on a Dask cluster (``recist-tool batch --executor dask``).

The plan is the local one (:mod:`recist_tool.partition`): the index pass runs as one
task per input file, each chunk of whole patients as one task calling the same
:func:`recist_tool.batch.evaluate_chunk`, and the client appends the chunks' tables to
the output files in order, so the files are those of a local run. The workers read
the input files themselves: they must see them at the same paths (a shared file
system). At most a few chunks per worker are in flight, so the client's memory stays
bounded too.

Needs ``dask[distributed]`` (``pip install 'recist-tool[cluster]'``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence

from recist_tool.errors import RecistError


class ClusterError(RecistError):
    """The Dask cluster cannot be used (missing package, unreachable scheduler)."""


def connect(scheduler: str = "local"):
    """A ``distributed.Client``: to ``scheduler`` (an address) or a new local cluster.

    ``local`` starts a ``LocalCluster`` with one single-threaded worker process per
    CPU; the caller closes the client and its ``cluster`` attribute (see
    :func:`client_session`).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the installation
        raise ClusterError(
            "--executor dask needs dask.distributed: pip install 'recist-tool[cluster]'"
        ) from None
    if scheduler == "local":
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster)
    import dask

    try:
        # dask's own setting (DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT), 30 s by default.
        return Client(scheduler, timeout=dask.config.get("distributed.comm.timeouts.connect"))
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def mapper(client):
    """A ``map`` that runs the index pass as one task per file on the cluster."""

    def run(function, *iterables):
        futures = client.map(function, *iterables, pure=False)
        try:
            return client.gather(futures)
        finally:
            client.cancel(futures)

    return run


def run_chunks(client, chunks: Sequence, job, fmt: str) -> Iterator:
    """Evaluate the chunks on the cluster; yield their results in chunk order.

    ``job`` (:class:`recist_tool.batch.ChunkJob`: settings, clinical data, keep-going)
    is sent to the workers once.
    """
    from recist_tool.batch import evaluate_chunk

    job = client.scatter(job, broadcast=True)
    workers = max(len(client.scheduler_info().get("workers", {})), 1)
    window = 2 * workers
    pending: deque = deque()
    k = 0
    try:
        while k < len(chunks) or pending:
            while k < len(chunks) and len(pending) < window:
                pending.append(client.submit(evaluate_chunk, chunks[k], job, fmt, pure=False))
                k += 1
            fut = pending.popleft()
            result = fut.result()
            fut.release()
            yield result
    finally:
        for fut in pending:
            fut.cancel()
