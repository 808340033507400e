"""What a planned run will cost, from the resource model (workflow/rules/resources.smk): jobs per rule and
study, and the GPU- and CPU-hours their runtime requests add up to, printed with every plan so that a
mistake such as ``rounds: 100000`` or a whole paper grid on a laptop is seen before anything runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

GPU_HOURS_WARNING = 100.0
"""Requested GPU-hours above which the plan warns (about a day on four GPUs)."""
CPU_HOURS_WARNING = 1000.0
JOBS_WARNING = 20_000
"""Jobs above which the plan warns (clusters often cap a user's submitted jobs)."""


@dataclass(frozen=True)
class PlannedJob:
    study: str
    """The job's study, "-" for jobs of no study (a dataset's cache, the target ``all``)."""
    rule: str
    gpu: bool
    """Whether it asks for a GPU (resources ``gpu``)."""
    minutes: float
    """Its runtime request (resources ``runtime``, first attempt)."""
    threads: int = 1
    measured: bool = False
    """Whether its requests come from the study's finished jobs of its shape (fal/plan/requests.py)."""


def plan_summary(jobs: Iterable[PlannedJob]) -> list[str]:
    """Lines for the log: one per study (jobs per rule, GPU- and CPU-hours requested), a total, and a
    warning when the total is large."""
    jobs = list(jobs)
    by_study: dict[str, list[PlannedJob]] = defaultdict(list)
    for job in jobs:
        by_study[job.study].append(job)
    lines = []
    for study in sorted(by_study):
        group = by_study[study]
        counts: dict[str, int] = defaultdict(int)
        for job in group:
            counts[job.rule] += 1
        gpu, cpu = _hours(group)
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(counts.items()))
        name = f"study {study}" if study != "-" else "shared jobs"
        lines.append(
            f"Plan for {name}: {len(group)} jobs ({rules}); requests {gpu:,.1f} GPU-hours, {cpu:,.1f} CPU-hours"
        )
    gpu, cpu = _hours(jobs)
    measured = sum(job.measured for job in jobs)
    source = (
        f"{measured} requests measured on finished jobs of the same shape, the others resources.smk's model"
        if measured
        else "resources.smk's model"
    )
    lines.append(f"Plan in all: {len(jobs)} jobs requesting {gpu:,.1f} GPU-hours and {cpu:,.1f} CPU-hours ({source})")
    if gpu > GPU_HOURS_WARNING or cpu > CPU_HOURS_WARNING or len(jobs) > JOBS_WARNING:
        lines.append(
            f"WARNING: this plan is large ({gpu:,.0f} GPU-hours, {cpu:,.0f} CPU-hours, {len(jobs):,} jobs). Check the "
            "protocol (rounds, epochs, seeds, the grid) before running; on a cluster see docs/cluster.md, on a "
            "workstation cap concurrent GPU jobs with --profile profiles/workstation or --resources gpu=N"
        )
    return lines


@dataclass(frozen=True)
class Submission:
    """One cluster submission: a job, or a group of jobs that the profile's ``groups`` put together."""

    gpus: int
    minutes: float
    """Its runtime request (a group's adds up the layers its jobs run in)."""
    jobs: int


def submissions_summary(submissions: Iterable[Submission]) -> list[str]:
    """The line a cluster user reads before submitting: submissions, GPU allocations and the GPU-hours
    they request (a group's runtime times its GPUs)."""
    submissions = list(submissions)
    if not submissions:
        return []
    gpu = [s for s in submissions if s.gpus]
    hours = sum(s.minutes * s.gpus for s in gpu) / 60
    largest = max(s.jobs for s in submissions)
    longest = max(s.minutes for s in submissions) / 60
    return [
        f"Cluster submissions with these groups: {len(submissions):,} ({len(gpu):,} GPU allocations requesting "
        f"{hours:,.1f} GPU-hours; up to {largest} jobs and {longest:,.1f} hours per submission)"
    ]


def _hours(jobs: Iterable[PlannedJob]) -> tuple[float, float]:
    gpu = cpu = 0.0
    for job in jobs:
        if job.gpu:
            gpu += job.minutes / 60
        else:
            cpu += job.minutes * job.threads / 60
    return gpu, cpu
