"""Where the parallel part of a run executes: this process, a pool of local processes, or Ray.

Kernels (dedup joins and searches, CoT batches, operations) never choose: the caller hands them an `Executor`
and they call `executor.map(fn, chunks, shared)`, which yields `fn(shared, chunk)` (or `fn(chunk)` when
`shared` is None) for each chunk, in order. `fn` must be a module-level function (pickled by reference) and
`shared` a picklable value every call needs (sent once per worker, not once per chunk). Ray is imported only
inside `RayExecutor` (optional: `pip install "ray[data]"`).
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

TASKS_PER_WORKER = 4  # chunks per worker: small enough to balance uneven chunks, few enough to keep overhead low


class Executor(Protocol):
    """Runs `fn` over chunks; `workers` says how many run at once (callers size their chunks by it)."""

    name: str

    @property
    def workers(self) -> int: ...

    @property
    def parallel(self) -> bool: ...

    def map(self, fn: Callable[..., Any], chunks: Iterable[Any], shared: Any = None) -> Iterator[Any]: ...


def _call(fn: Callable[..., Any], shared: Any, chunk: Any) -> Any:
    return fn(chunk) if shared is None else fn(shared, chunk)


class InProcess:
    """Every chunk in this process, one after another (kernels use their own threads inside a chunk)."""

    name = "in-process"
    parallel = False

    @property
    def workers(self) -> int:
        return 1

    def map(self, fn: Callable[..., Any], chunks: Iterable[Any], shared: Any = None) -> Iterator[Any]:
        for chunk in chunks:
            yield _call(fn, shared, chunk)


_worker_shared: Any = None


def _set_shared(value: Any) -> None:
    global _worker_shared
    _worker_shared = value


def _call_with_worker_shared(fn: Callable[..., Any], chunk: Any) -> Any:
    return _call(fn, _worker_shared, chunk)


class ProcessPool:
    """Chunks in a pool of fresh local processes (spawned: safe inside a threaded server), `shared` sent once to
    each worker when the pool starts."""

    name = "process-pool"
    parallel = True

    def __init__(self, processes: int | None = None) -> None:
        self.processes = max(1, processes or os.cpu_count() or 2)

    @property
    def workers(self) -> int:
        return self.processes

    def map(self, fn: Callable[..., Any], chunks: Iterable[Any], shared: Any = None) -> Iterator[Any]:
        context = mp.get_context("spawn")
        pool = ProcessPoolExecutor(self.processes, mp_context=context, initializer=_set_shared, initargs=(shared,))
        with pool:
            futures = [pool.submit(_call_with_worker_shared, fn, chunk) for chunk in chunks]
            try:
                for future in futures:
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()


def ray_installed() -> bool:
    """Whether ray can be imported (without importing it: that takes seconds)."""
    return importlib.util.find_spec("ray") is not None


def ray_module() -> Any:
    """The ray package, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RuntimeError('Ray is not installed: pip install "ray[data]" (or run without --ray)') from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error at once when a cluster address ('host:port' or 'ray://host:port') does not answer (Ray
    itself retries for minutes); 'auto' and other forms are left to Ray."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise RuntimeError(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None


class RayExecutor:
    """Chunks as Ray tasks on this machine ('local') or a cluster ('auto', 'host:port', 'ray://head:10001');
    `shared` is put into the object store once. Ray starts (or connects) at the first `map`."""

    name = "ray"
    parallel = True

    def __init__(self, address: str) -> None:
        if not address:
            raise ValueError("a Ray address is needed: 'local' or a cluster address")
        self.address = address

    def connect(self) -> Any:
        """ray, initialised once per process ('local': this machine, with its CPUs)."""
        ray = ray_module()
        if not ray.is_initialized():
            if self.address == "local":
                ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False)
            else:
                check_reachable(self.address)
                ray.init(address=self.address, log_to_driver=False)
        return ray

    @property
    def workers(self) -> int:
        return max(1, int(self.connect().cluster_resources().get("CPU", 1)))

    def map(self, fn: Callable[..., Any], chunks: Iterable[Any], shared: Any = None) -> Iterator[Any]:
        ray = self.connect()
        shared_ref = ray.put(shared)
        task = ray.remote(_call)
        futures = [task.remote(fn, shared_ref, chunk) for chunk in chunks]
        taken = 0
        try:
            for future in futures:
                yield ray.get(future)
                taken += 1
        finally:
            # Only on an early exit (a cancelled run), and only tasks not finished yet: ray.cancel on a task that
            # is completing aborts the driver (Ray "Check failed: Tried to complete task that was not pending").
            left = futures[taken:]
            if left:
                _, pending = ray.wait(left, num_returns=len(left), timeout=0)
                for future in pending:
                    ray.cancel(future)


IN_PROCESS = InProcess()


def for_address(ray_address: str | None) -> Executor:
    """The executor a run's choice names: Ray at `ray_address` when given, else this process."""
    return RayExecutor(ray_address) if ray_address else IN_PROCESS


def split(items: list, executor: Executor) -> list[list]:
    """`items` dealt round-robin into about TASKS_PER_WORKER groups per worker (one group in process)."""
    parts = max(1, min(len(items), executor.workers * TASKS_PER_WORKER)) if executor.parallel else 1
    return [items[i::parts] for i in range(parts) if items[i::parts]]
