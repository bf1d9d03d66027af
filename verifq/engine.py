"""Where independent pieces of work run: in this process, on a local process
pool (`--jobs N`), or on a Ray cluster (`--ray ADDRESS`).

An `Engine` runs module-level functions `fn(shared, *args)`: `shared` is
read-only data every task needs (a network, a design), handed over once with
`share` and sent to each worker process at most a few times, not with every
task's result. `submit` returns a handle, `result(handle)` waits for it.
Engines never decide anything: callers consume results in an order fixed in
advance (not in the order they finish), so whatever runs the tasks, and
however many at a time, the outcome is the same bit for bit. There are no
wall-clock limits anywhere; only work limits.

* `SerialEngine`: runs a task when its result is asked for (no processes;
  what `--jobs 1` means).
* `PoolEngine(jobs)`: a `concurrent.futures` process pool (spawned
  processes; each caches the shared data it has seen).
* `RayEngine(address)`: Ray tasks (`pip install 'verifq[ray]'`; ray is
  imported only here, and only when asked for). `address` "local" starts a
  private local Ray instance for the run; anything else is passed to
  `ray.init(address=...)` (e.g. "auto", "ray://host:10001"). verifq must be
  importable on the cluster's nodes.

This module is a core module (like progress.py): every stage may use it.
"""

from __future__ import annotations

import itertools
import os
import pickle
import re
import socket
from dataclasses import dataclass

from .errors import UserError

MAX_JOBS = 256


def one_blas_thread() -> None:
    """numpy's OpenBLAS threads spin-wait for each other, so on cores busy with other work (or with
    our own --jobs workers) a multi-threaded BLAS call is several times slower: aster_AC7's analysis
    took 1.75 s with 2 threads and 0.42 s with 1 on a loaded 2-core machine, the same 0.25 s idle
    (MNIST 256x2 6.7 s either way). Parallel work comes from --jobs instead. Effective only before
    numpy is imported (the CLI calls it first); a value the user set is kept, and spawned workers
    inherit it."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@dataclass(frozen=True)
class Shared:
    """A handle to read-only data the tasks need (`Engine.share`)."""

    token: str
    payload: object  # the value (serial), its pickle (pool), [ObjectRef] (ray: a list, so Ray does not resolve it)


class Engine:
    """Runs `fn(shared_value, *args)` somewhere; see the module docstring."""

    slots = 1  # tasks that run at once (callers use it to decide how far ahead to submit)
    name = "serial"
    _tokens = itertools.count()

    def share(self, value) -> Shared:
        return Shared(f"{os.getpid()}-{id(self)}-{next(self._tokens)}", value)

    def submit(self, fn, shared: Shared, *args):
        raise NotImplementedError

    def result(self, handle):
        raise NotImplementedError

    def cancel(self, handles) -> None:
        """Results no longer wanted (best effort: running tasks finish and are dropped)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def map(self, fn, shared: Shared, items) -> list:
        """fn(shared, item) for every item, results in the order of `items`."""
        handles = [self.submit(fn, shared, item) for item in items]
        return [self.result(h) for h in handles]


class SerialEngine(Engine):
    """In this process, when the result is asked for (cancelled work is never done)."""

    def submit(self, fn, shared: Shared, *args):
        return [fn, shared.payload, args, None, False]

    def result(self, handle):
        if not handle[4]:
            handle[3] = handle[0](handle[1], *handle[2])
            handle[4] = True
            handle[1] = handle[2] = None
        return handle[3]


# ----------------------------------------------------------------------------- the worker side
_WORKER_CACHE: dict = {}
_WORKER_CACHE_SIZE = 4


def _shared_value(token: str, load):
    hit = _WORKER_CACHE.get(token)
    if hit is None:
        hit = load()
        if len(_WORKER_CACHE) >= _WORKER_CACHE_SIZE:
            _WORKER_CACHE.pop(next(iter(_WORKER_CACHE)))
        _WORKER_CACHE[token] = hit
    return hit


class _Missing:
    """A worker's answer when it was sent no shared data and has none cached (the task is resent with it)."""


def _run_pickled(fn, token: str, payload: bytes | None, args):
    if payload is None and token not in _WORKER_CACHE:
        return _Missing
    return fn(_shared_value(token, lambda: pickle.loads(payload)), *args)


def _run_ray(fn, token: str, refs, args):
    import ray

    return fn(_shared_value(token, lambda: ray.get(refs[0])), *args)


class PoolEngine(Engine):
    """A local pool of `jobs` spawned processes. The shared data travels pickled with the first few
    tasks (and with any task whose process turns out not to have it), then only its token: each
    process unpickles it once and keeps it. Results come back pickled."""

    name = "pool"

    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.slots = jobs
        self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
        self._sent: dict = {}  # token -> tasks submitted with the payload

    def share(self, value) -> Shared:
        token = super().share(None).token
        return Shared(token, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def submit(self, fn, shared: Shared, *args):
        sent = self._sent.get(shared.token, 0)
        with_payload = sent < 2 * self.slots
        if with_payload:
            self._sent[shared.token] = sent + 1
        payload = shared.payload if with_payload else None
        return [self._pool.submit(_run_pickled, fn, shared.token, payload, args), fn, shared, args]

    def result(self, handle):
        r = handle[0].result()
        if r is _Missing:  # that process never received the shared data: send it now
            handle[0] = self._pool.submit(_run_pickled, handle[1], handle[2].token, handle[2].payload, handle[3])
            r = handle[0].result()
        return r

    def cancel(self, handles) -> None:
        for h in handles:
            h[0].cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayEngine(Engine):
    """Ray tasks on the cluster at `address` ("local": a private local instance with `jobs` CPUs)."""

    name = "ray"

    def __init__(self, address: str, jobs: int | None = None):
        try:
            import ray
        except ImportError as exc:
            raise UserError(
                f"--ray needs the optional package ray, which is not installed ({exc})",
                hint="pip install 'verifq[ray]' (or run without --ray: --jobs N uses a local process pool)",
            ) from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address == "local":
                ray.init(num_cpus=jobs or os.cpu_count() or 1, **kwargs)
            else:
                unreachable = _unreachable(address)
                if unreachable:
                    raise UserError(f"--ray {address}: no Ray cluster answers there ({unreachable})",
                                    hint="give the head node's address (e.g. --ray auto, --ray ray://HOST:10001) "
                                         "or --ray local for a private local instance")
                try:
                    ray.init(address=address, **kwargs)
                except (ConnectionError, ValueError, RuntimeError) as exc:
                    raise UserError(f"--ray {address}: cannot connect to a Ray cluster there ({exc})",
                                    hint="give the head node's address (e.g. --ray auto, --ray ray://HOST:10001) "
                                         "or --ray local for a private local instance") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = max(1, min(cpus, jobs) if jobs else cpus)
        self._task = ray.remote(num_cpus=1, max_retries=0)(_run_ray)

    def share(self, value) -> Shared:
        token = super().share(None).token
        return Shared(token, [self._ray.put(value)])

    def submit(self, fn, shared: Shared, *args):
        return self._task.remote(fn, shared.token, shared.payload, args)

    def result(self, handle):
        try:
            return self._ray.get(handle)
        except self._ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            raise (cause if isinstance(cause, BaseException) else err) from None

    def cancel(self, handles) -> None:
        for h in handles:
            try:
                self._ray.cancel(h)
            except Exception:  # noqa: BLE001 - best effort: the result is dropped anyway
                pass

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def _unreachable(address: str, seconds: float = 10.0) -> str | None:
    """Why nothing accepts a connection at HOST:PORT or ray://HOST:PORT (None: something does, or the
    address has another form, e.g. "auto"). Ray itself would retry for minutes."""
    m = re.fullmatch(r"(?:ray://)?\[?([^\[\]/]+?)\]?:(\d+)", address)
    if not m:
        return None
    try:
        socket.create_connection((m.group(1), int(m.group(2))), timeout=seconds).close()
    except OSError as exc:
        return str(exc) or type(exc).__name__
    return None


def check_jobs(jobs: int) -> int:
    """`--jobs N`: 0 (one per core) to MAX_JOBS processes."""
    if not 0 <= jobs <= MAX_JOBS:
        raise UserError(f"--jobs needs a number of processes from 0 (one per core) to {MAX_JOBS}, not {jobs}",
                        hint="e.g. --jobs 2")
    return jobs


def make_engine(jobs: int = 1, ray: str | None = None) -> Engine:
    """The engine the options ask for: Ray when `ray` names an address, else a pool of `jobs`
    processes (jobs 0: one per core), else (jobs 1) this process."""
    check_jobs(jobs)
    if ray is not None:
        return RayEngine(ray, jobs if jobs > 1 else None)
    if jobs == 0:
        jobs = os.cpu_count() or 1
    return SerialEngine() if jobs == 1 else PoolEngine(jobs)


__all__ = ["Engine", "SerialEngine", "PoolEngine", "RayEngine", "Shared", "make_engine", "check_jobs", "MAX_JOBS"]
