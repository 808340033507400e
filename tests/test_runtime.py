"""GPU claims on a multi-GPU workstation: concurrent jobs spread over the GPUs, and a claim ends with
its process (checked with real processes, since claims are per-process ``flock``s)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from fal.job import claim_least_busy_gpu
    print(claim_least_busy_gpu({count}, Path({lock_dir!r})), flush=True)
    sys.stdin.readline()  # hold the claim until the test closes stdin
    """
)


def start_holder(lock_dir: Path, count: int) -> tuple[subprocess.Popen, int]:
    code = HOLDER.format(root=str(ROOT), count=count, lock_dir=str(lock_dir))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def release(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(timeout=30)


def test_concurrent_jobs_spread_over_gpus_and_claims_end_with_the_job(tmp_path):
    holders = []
    try:
        for _ in range(5):
            holders.append(start_holder(tmp_path, count=2))
        # five live jobs on two GPUs: 3 + 2, taken in turn
        assert [gpu for _, gpu in holders] == [0, 1, 0, 1, 0]
        # the jobs on GPU 1 end: the next two jobs go there, since GPU 0 still holds three
        for proc, gpu in holders:
            if gpu == 1:
                release(proc)
        holders = [(p, g) for p, g in holders if g == 0]
        for _ in range(2):
            holders.append(start_holder(tmp_path, count=2))
        assert [gpu for _, gpu in holders[-2:]] == [1, 1]
        # a killed job's claim disappears with it
        holders[0][0].kill()
        holders[0][0].wait(timeout=30)
        holders = holders[1:]
        holders.append(start_holder(tmp_path, count=2))
        assert holders[-1][1] == 0  # GPU 0: 2 live claims, GPU 1: 2 -> lowest index
        assert len(list(tmp_path.glob("gpu*-*.lock"))) == 5  # the dead claims' files were removed
    finally:
        for proc, _ in holders:
            if proc.poll() is None:
                release(proc)
