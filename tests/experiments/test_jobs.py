"""Parallel jobs in dependency order (`experiments.jobs`, `dkdpose ablation --jobs`)."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import pytest

from dkdpose.errors import InputError
from dkdpose.experiments.jobs import Job, check_jobs, run_jobs


def record_job(folder: str, fail: dict[str, str], key: str) -> None:
    """A job that notes when it ran (and fails as `fail` says: "input" or "crash")."""
    start = time.time()
    print(f"job {key} running")
    time.sleep(0.3)
    if fail.get(key) == "input":
        raise InputError(f"{key}: the data is bad")
    if fail.get(key) == "crash":
        raise ValueError("a bug")
    Path(folder, f"{key}.json").write_text(json.dumps({"start": start, "end": time.time()}))


def _times(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def test_jobs_start_after_what_they_need_and_run_side_by_side(tmp_path):
    jobs = [Job("stage1"), Job("other1"), Job("a", frozenset({"stage1"}))]
    jobs.append(Job("b", frozenset({"stage1", "a"})))
    done = run_jobs(jobs, functools.partial(record_job, str(tmp_path), {}), 2, tmp_path / "logs")
    assert set(done) == {"stage1", "other1", "a", "b"} and all(s > 0 for s in done.values())
    t = _times(tmp_path)
    assert t["a"]["start"] >= t["stage1"]["end"] and t["b"]["start"] >= t["a"]["end"]
    assert t["other1"]["start"] < t["stage1"]["end"]  # the two without needs ran at the same time
    assert (tmp_path / "logs/a.log").read_text().strip() == "job a running"


def test_a_failed_job_stops_what_needs_it_and_names_its_log(tmp_path):
    jobs = [Job("stage1"), Job("a", frozenset({"stage1"}))]
    with pytest.raises(InputError, match=r"stage1: the data is bad \(log: .*stage1.log\)"):
        failing = functools.partial(record_job, str(tmp_path), {"stage1": "input"})
        run_jobs(jobs, failing, 2, tmp_path / "logs")
    assert _times(tmp_path) == {}  # a never started
    with pytest.raises(RuntimeError, match=r"job a failed with exit status 1; see its log .*a.log"):
        run_jobs(jobs, functools.partial(record_job, str(tmp_path), {"a": "crash"}), 1, tmp_path / "logs2")
    assert "ValueError: a bug" in (tmp_path / "logs2/a.log").read_text()


def test_job_graphs_that_cannot_finish_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not jobs"):
        check_jobs([Job("a", frozenset({"missing"}))])
    with pytest.raises(ValueError, match="wait for each other"):
        check_jobs([Job("a", frozenset({"b"})), Job("b", frozenset({"a"}))])
    with pytest.raises(InputError, match="--jobs must be >= 1"):
        run_jobs([Job("a")], functools.partial(record_job, str(tmp_path), {}), 0, tmp_path / "logs")
