"""Run an experiment's trainings N at a time, each in its own process, in dependency order.

`dkdpose ablation --jobs N` uses it: stage-1 runs start first, and a variant starts as soon as every run it
starts from has finished. Each job is a spawned Python process (its own CUDA context and DataLoader workers)
that calls `target(key)`; its standard output and error go to `LOG_DIR/<key>.log`. The parent only schedules:
when a job fails, no new job starts, the running ones finish, and the failure is raised naming the job and
its log. Several small jobs share one large GPU well, because each alone leaves it mostly idle (Python and
data loading set the pace of a small model's training step).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from dkdpose.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One unit of work: its key (also its log's name) and the keys of the jobs it must wait for."""

    key: str
    needs: frozenset[str] = frozenset()


def check_jobs(jobs: list[Job]) -> None:
    """ValueError when a job waits for a key that is not a job, or the jobs wait for each other in a cycle."""
    keys = {j.key for j in jobs}
    for job in jobs:
        missing = job.needs - keys
        if missing:
            raise ValueError(f"job {job.key} needs {', '.join(sorted(missing))}, which are not jobs")
    done: set[str] = set()
    left = list(jobs)
    while left:
        ready = [j for j in left if j.needs <= done]
        if not ready:
            raise ValueError(f"jobs wait for each other: {', '.join(j.key for j in left)}")
        done |= {j.key for j in ready}
        left = [j for j in left if j.key not in done]


def run_jobs(
    jobs: list[Job],
    target: Callable[[str], None],
    parallel: int,
    log_dir: Path,
    on_done: Callable[[str], object] | None = None,
) -> dict[str, float]:
    """Run `target(job.key)` for every job, at most `parallel` at a time; returns {key: wall seconds}.

    `on_done(key)` runs in this process after each job that succeeded (e.g. to rewrite a results table).
    `target` must be picklable (a module-level function or a functools.partial of one). A job that exits
    with status 2 (bad input) raises InputError with the last line of its log; any other failure raises
    RuntimeError naming its log.
    """
    if parallel < 1:
        raise InputError(f"--jobs must be >= 1, got {parallel}")
    check_jobs(jobs)
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")  # a fresh interpreter per job: CUDA cannot be shared across fork
    pending, running = list(jobs), {}
    done: dict[str, float] = {}
    failed: tuple[str, int] | None = None
    try:
        while pending or running:
            while failed is None and len(running) < parallel:
                job = next((j for j in pending if j.needs <= done.keys()), None)
                if job is None:
                    break
                pending.remove(job)
                path = log_dir / f"{job.key}.log"
                proc = ctx.Process(target=_child, args=(target, job.key, str(path)), name=job.key)
                proc.start()
                running[job.key] = (proc, time.monotonic())
                log.info("started %s (log: %s)", job.key, path)
            if not running:
                break
            wait([p.sentinel for p, _ in running.values()])
            for key, (proc, t0) in list(running.items()):
                if proc.is_alive():
                    continue
                proc.join()
                del running[key]
                if proc.exitcode == 0:
                    done[key] = time.monotonic() - t0
                    log.info("finished %s in %.1f min", key, done[key] / 60)
                    if on_done is not None:
                        on_done(key)
                elif failed is None:
                    failed = (key, proc.exitcode)
    finally:
        for proc, _ in running.values():  # only on an exception (KeyboardInterrupt): stop the others
            proc.terminate()
            proc.join()
    if failed is not None:
        _raise_failure(*failed, log_dir / f"{failed[0]}.log")
    return done


def _raise_failure(key: str, code: int, path: Path) -> None:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    last = lines[-1] if lines else "(empty log)"
    if code == 2:
        raise InputError(f"{key}: {last.removeprefix('error: ')} (log: {path})")
    raise RuntimeError(f"job {key} failed with exit status {code}; see its log {path} (last line: {last})")


def _child(target: Callable[[str], None], key: str, log_path: str) -> None:
    """The job process: output to its log, logging at INFO, InputError -> one line and exit status 2."""
    with open(log_path, "a", buffering=1) as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=True)
    try:
        target(key)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    sys.stdout.flush()
    sys.stderr.flush()
