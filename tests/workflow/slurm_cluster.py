"""A throw-away single-node SLURM cluster for tests (Debian's slurm-wlm 22.05 and munge).

Everything the daemons write (config, munge key and socket, state, spool, logs, PID files) lives in
one temporary folder, and they listen on free ports, so a cluster already running on the machine is
left alone. Clients find the cluster through ``SLURM_CONF`` (``SlurmCluster.env``). ``stop()`` ends
exactly the daemons it started, by the PIDs in their PID files. Two fake GPUs (character devices
cloned from /dev/null and /dev/zero) let ``--gpus=1`` requests be scheduled on machines without one.

Measured facts behind the settings: ../shared/docs/snakemake-slurm.md (§2).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server"]
DB_PASSWORD = "fal-test"


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here (None when it can); installs the packages when root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged needs root"
    binaries = ["sbatch", "slurmctld", "slurmd", "munged", "slurmdbd", "mariadbd", "mariadb-install-db"]
    if not all(shutil.which(b) or Path(f"/usr/sbin/{b}").exists() for b in binaries):
        error = install_packages()
        if error:
            return error
    try:
        import pwd

        pwd.getpwnam("munge")
    except KeyError:
        return "the munge user does not exist (munge package not installed properly)"
    return None


def install_packages() -> str | None:
    """apt-get install the SLURM and munge packages; an error message on failure."""
    if not shutil.which("apt-get"):
        return "slurm-wlm/munge are not installed and there is no apt-get to install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:  # stale package lists on a fresh machine
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"apt-get install {' '.join(PACKAGES)} failed: {proc.stderr.strip()[-500:]}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sbin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class SlurmCluster:
    """``with SlurmCluster() as cluster:`` starts munged, slurmctld and slurmd (and, with ``accounting``,
    a MariaDB server and slurmdbd, so that ``sacct`` works); leaving the block stops them."""

    partition = "debug"

    def __init__(self, gpus: int = 2, startup_timeout: float = 60.0, accounting: bool = False):
        self.gpus = gpus
        self.accounting = accounting
        self.startup_timeout = startup_timeout
        self.root: Path | None = None
        self.started: dict[str, Path] = {}  # daemon -> its PID file

    # -- layout -----------------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.root / "etc/slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge/munge.socket"

    @property
    def env(self) -> dict[str, str]:
        """Environment for SLURM clients (sbatch, squeue, srun) talking to this cluster."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def log(self, daemon: str) -> str:
        path = self.root / f"log/{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- start / stop -----------------------------------------------------------------------
    def __enter__(self) -> SlurmCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        # Under /tmp with mode 0755 so that munged (user munge) can reach its folder.
        self.root = Path(tempfile.mkdtemp(prefix="fal-slurm-", dir="/tmp"))
        self.root.chmod(0o755)
        for sub in ["etc", "state", "spool", "log", "run", "dev", "bin"]:
            (self.root / sub).mkdir()
        # Inside a job, the Snakemake job step removes SLURM_* variables (SLURM_CONF too) before its
        # nested `srun`, which then looks for /etc/slurm/slurm.conf. Rather than write there, put an
        # `srun` first on PATH that points at this cluster's config.
        shim = self.root / "bin/srun"
        shim.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun") or "/usr/bin/srun"} "$@"\n')
        shim.chmod(0o755)
        self._start_munge()
        self._write_config()
        if self.accounting:
            self._start_accounting()
        self._run_daemon("slurmctld", [_sbin("slurmctld"), "-f", str(self.conf)])
        self._run_daemon("slurmd", [_sbin("slurmd"), "-f", str(self.conf)])
        self._wait_idle()

    def _start_munge(self) -> None:
        munge_dir = self.root / "munge"
        munge_dir.mkdir()
        munge_dir.chmod(0o755)  # munged wants the socket folder searchable by all
        key = munge_dir / "munge.key"
        subprocess.run([_sbin("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        shutil.chown(munge_dir, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        pid_file = munge_dir / "munged.pid"
        cmd = [
            _sbin("munged"),
            f"--socket={self.munge_socket}",
            f"--key-file={key}",
            f"--pid-file={pid_file}",
            f"--log-file={munge_dir / 'munged.log'}",
            f"--seed-file={munge_dir / 'munged.seed'}",
        ]
        # munged refuses to run as root; run it as the munge user, as Debian's unit does.
        self._run_daemon("munged", ["runuser", "-u", "munge", "--", *cmd], pid_file=pid_file)

    def _start_accounting(self) -> None:
        """A MariaDB server on its own data folder, socket and port, and slurmdbd storing into it."""
        data, sock, run = self.root / "mysql", self.root / "run/mysqld.sock", self.root / "run"
        subprocess.run(
            ["mariadb-install-db", f"--datadir={data}", "--user=root", "--auth-root-authentication-method=normal"],
            check=True,
            capture_output=True,
        )
        db_port = free_port()
        pid_file = run / "mariadbd.pid"
        self.started["mariadbd"] = pid_file
        subprocess.Popen(
            [
                _sbin("mariadbd"),
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={sock}",
                f"--port={db_port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={pid_file}",
                f"--log-error={self.root / 'log/mariadbd.log'}",
                "--user=root",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        sql = (
            "CREATE DATABASE slurm_acct_db; "
            f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}'; "
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
        )
        self._retry(["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql], "mariadbd")
        dbd_port = free_port()
        dbd_conf = self.root / "etc/slurmdbd.conf"  # slurmdbd reads it beside SLURM_CONF's file
        dbd_conf.write_text(
            f"""AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={dbd_port}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser=slurm
StoragePass={DB_PASSWORD}
StorageLoc=slurm_acct_db
LogFile={self.root / "log/slurmdbd.log"}
PidFile={run / "slurmdbd.pid"}
"""
        )
        dbd_conf.chmod(0o600)  # slurmdbd refuses a readable one
        with self.conf.open("a") as conf:
            conf.write(
                "AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
                f"AccountingStoragePort={dbd_port}\nAccountingStoragePass={self.munge_socket}\n"
                "AccountingStorageTRES=gres/gpu\nJobAcctGatherType=jobacct_gather/linux\n"
            )
        self._run_daemon("slurmdbd", [_sbin("slurmdbd")])
        self._retry(["sacctmgr", "-i", "add", "cluster", "faltest"], "slurmdbd")

    def _retry(self, cmd: list[str], daemon: str) -> None:
        """Run ``cmd`` until it succeeds (its daemon is still starting), for up to the start-up timeout."""
        deadline = time.monotonic() + self.startup_timeout
        while True:
            proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(cmd[:2])} failed: {proc.stderr}{self.log(daemon)[-2000:]}")
            time.sleep(0.5)

    def steps(self, job_id: str) -> list[dict[str, str]]:
        """``sacct``'s records of a job and its steps (needs ``accounting``)."""
        fields = "JobID,JobName,State,Start,End,AllocTRES"
        proc = subprocess.run(
            ["sacct", "-j", job_id, "--parsable2", f"--format={fields}"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        lines = proc.stdout.strip().splitlines()
        return [dict(zip(lines[0].split("|"), line.split("|"))) for line in lines[1:]]

    def _write_config(self) -> None:
        node = socket.gethostname().split(".")[0]
        mem_mb = (
            int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal"))) // 1024 - 1024
        )
        cpus = os.cpu_count() or 1
        devices = []
        for i in range(self.gpus):
            dev = self.root / f"dev/fakegpu{i}"
            try:  # character devices like the real /dev/nvidiaN; plain files also work (one log line)
                os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3 + 2 * i))
            except OSError:
                dev.touch()
            devices.append(str(dev))
        r = self.root
        gres = f"Gres=gpu:{self.gpus}" if self.gpus else ""
        self.conf.write_text(
            f"""# Generated by tests/slurm_cluster.py
ClusterName=faltest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
DefMemPerCPU=1000
JobCompType=jobcomp/filetxt
JobCompLoc={r}/log/jobcomp.log
MailProg=/bin/true
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} {gres} State=UNKNOWN
PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
        )
        if not self.accounting:  # _start_accounting appends its own
            with self.conf.open("a") as conf:
                conf.write("AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none\n")
        # gres/gpu needs File= lines: count-only GPUs are dropped and the node goes INVAL.
        (self.root / "etc/gres.conf").write_text(
            "AutoDetect=off\n" + "".join(f"NodeName={node} Name=gpu File={d}\n" for d in devices)
        )

    def _run_daemon(self, name: str, cmd: list[str], pid_file: Path | None = None) -> None:
        pid_file = pid_file or self.root / f"run/{name}.pid"
        self.started[name] = pid_file
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{name} did not start ({proc.returncode}): {proc.stderr}{proc.stdout}{self.log(name)}")
        deadline = time.monotonic() + 20
        while not (pid_file.exists() and pid_file.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} wrote no PID file {pid_file}: {self.log(name)}")
            time.sleep(0.1)

    def jobs(self) -> list[dict[str, str]]:
        """``scontrol show job`` fields of every job slurmctld still holds (finished ones for MinJobAge)."""
        proc = subprocess.run(
            ["scontrol", "show", "job", "-o"], env=self.env, capture_output=True, text=True, check=True
        )
        return [
            dict(re.findall(r"(\w+)=(\S*)", line)) for line in proc.stdout.splitlines() if line.startswith("JobId=")
        ]

    def node_state(self) -> str:
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=self.env, capture_output=True, text=True)
        return proc.stdout.strip().splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else ""

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while (state := self.node_state()) != "idle":
            dead = [name for name, pid_file in self.started.items() if not _alive(int(pid_file.read_text().strip()))]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    f"node state {state!r}, daemons exited: {dead}:\n{self.log('slurmctld')[-3000:]}\n{self.log('slurmd')[-3000:]}"
                )
            time.sleep(0.3)

    def stop(self) -> list[int]:
        """Stop the daemons this object started (newest first), by PID; returns the PIDs stopped."""
        stopped = []
        if "slurmctld" in self.started:  # jobs of this cluster first, so no job step outlives it
            jobs = subprocess.run(
                ["squeue", "-h", "-o", "%i"], env=self.env, capture_output=True, text=True
            ).stdout.split()
            if jobs:
                subprocess.run(["scancel", *jobs], env=self.env, capture_output=True)
                deadline = time.monotonic() + 20
                while (
                    time.monotonic() < deadline
                    and subprocess.run(
                        ["squeue", "-h", "-o", "%i", "-t", "PD,R,CG"], env=self.env, capture_output=True, text=True
                    ).stdout.strip()
                ):
                    time.sleep(0.5)
        for name in reversed(list(self.started)):
            pid_file = self.started.pop(name)
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        return stopped


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie child counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False
