"""One writer per directory: the lease file, its heartbeat and when it may be taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from xlingual_probe.utils.errors import UserError
from xlingual_probe.utils.lease import LEASE_FILE, DirectoryLease, abandoned


def write_lease(folder, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    record = {"host": socket.gethostname(), "pid": os.getpid(), "acquired": time.time(), "heartbeat": time.time(),
              **fields}
    (folder / LEASE_FILE).write_text(json.dumps(record))
    return record


@pytest.fixture
def live_pid():
    """The pid of a live process that is not this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_acquire_writes_the_holder_and_release_removes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    lease = DirectoryLease(tmp_path / "run").acquire()
    record = json.loads((tmp_path / "run" / LEASE_FILE).read_text())
    assert record["host"] == socket.gethostname() and record["pid"] == os.getpid()
    assert record["slurm_job_id"] == "4242" and record["slurm_restart_count"] == 0
    assert record["heartbeat"] >= record["acquired"]
    lease.release()
    assert not (tmp_path / "run" / LEASE_FILE).exists()


def test_a_live_holder_is_refused_with_a_line_naming_it(tmp_path, live_pid):
    write_lease(tmp_path, pid=live_pid, slurm_job_id="77")
    with pytest.raises(UserError) as refused:
        DirectoryLease(tmp_path).acquire()
    message = str(refused.value)
    assert "\n" not in message
    assert f"in use by pid {live_pid} on host {socket.gethostname()} (Slurm job 77)" in message
    assert "XPROBE_LEASE_STALE_SECONDS" in message


def test_a_dead_holder_on_this_host_is_taken_over(tmp_path, live_pid):
    proc_pid = live_pid
    os.kill(proc_pid, 9)
    os.waitpid(proc_pid, 0)
    write_lease(tmp_path, pid=proc_pid)
    lease = DirectoryLease(tmp_path).acquire()
    assert lease.taken_over == f"its process {proc_pid} is gone"
    assert json.loads((tmp_path / LEASE_FILE).read_text())["pid"] == os.getpid()
    lease.release()


def test_a_holder_elsewhere_is_taken_over_only_once_its_heartbeat_is_stale(tmp_path, monkeypatch):
    write_lease(tmp_path, host="node-elsewhere", pid=1, heartbeat=time.time() - 120)
    with pytest.raises(UserError, match="node-elsewhere"):
        DirectoryLease(tmp_path).acquire()  # 2 minutes is within the default 10 minutes
    monkeypatch.setenv("XPROBE_LEASE_STALE_SECONDS", "60")
    lease = DirectoryLease(tmp_path).acquire()  # a requeued job on another node
    assert lease.taken_over.startswith("no heartbeat for 120 s")
    lease.release()


def test_a_requeued_slurm_job_takes_its_own_lease_over_at_once(tmp_path, monkeypatch):
    write_lease(tmp_path, host="node-a", pid=1, slurm_job_id="99", slurm_restart_count=0)
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    lease = DirectoryLease(tmp_path).acquire()
    assert lease.taken_over == "Slurm job 99 was requeued"
    lease.release()


def test_the_heartbeat_advances_and_a_lost_lease_is_noticed(tmp_path):
    lease = DirectoryLease(tmp_path, stale_after=0.5).acquire()
    first = json.loads((tmp_path / LEASE_FILE).read_text())["heartbeat"]
    time.sleep(0.3)
    assert json.loads((tmp_path / LEASE_FILE).read_text())["heartbeat"] > first
    lease.check()
    write_lease(tmp_path, host="thief", pid=3)  # taken over by someone who judged it stale
    time.sleep(0.3)
    with pytest.raises(UserError, match="lost the lease .* to pid 3 on host thief"):
        lease.check()
    lease.release()
    assert json.loads((tmp_path / LEASE_FILE).read_text())["host"] == "thief"  # not ours to delete


def test_one_process_cannot_hold_a_directory_twice_but_takes_back_what_it_left(tmp_path):
    lease = DirectoryLease(tmp_path).acquire()
    with pytest.raises(UserError, match="already being written by this process"):
        DirectoryLease(tmp_path).acquire()
    lease.release()
    write_lease(tmp_path)  # left behind by an interrupted call of this process
    again = DirectoryLease(tmp_path).acquire()
    assert again.taken_over == "this process left it behind"
    again.release()


def test_a_torn_lease_file_is_judged_by_its_age(tmp_path, monkeypatch):
    tmp_path.joinpath(LEASE_FILE).write_text('{"host": "x", "pi')
    with pytest.raises(UserError):
        DirectoryLease(tmp_path).acquire()
    old = time.time() - 3600
    os.utime(tmp_path / LEASE_FILE, (old, old))
    DirectoryLease(tmp_path).acquire().release()


def test_abandoned_reads_the_rules():
    now = 1000.0
    assert abandoned({"host": "h", "pid": 1, "heartbeat": 900.0}, 600, now) is None
    assert abandoned({"host": "h", "pid": 1}, 600, now).startswith("no heartbeat for ever")


def test_a_reentrant_lease_takes_over_from_this_process_only(tmp_path):
    stuck = DirectoryLease(tmp_path).acquire()  # e.g. a Trainer callback whose training raised
    again = DirectoryLease(tmp_path, reentrant=True).acquire()
    assert again.taken_over == "this process left it behind" and not stuck.held
    again.release()
    assert not (tmp_path / LEASE_FILE).exists()
