"""The plan's cost summary (fal/plan/cost.py) by hand: jobs per rule and study, hours, the warning."""

from fal.plan.cost import PlannedJob, plan_summary


def test_summary_counts_jobs_and_hours_per_study_by_hand():
    jobs = [
        PlannedJob("quick", "train", True, 30),
        PlannedJob("quick", "train", True, 30),
        PlannedJob("quick", "query", True, 60),
        PlannedJob("quick", "run_metrics", False, 5, threads=2),
        PlannedJob("-", "prepare_dataset", False, 30),
    ]
    lines = plan_summary(jobs)
    assert lines[0] == "Plan for shared jobs: 1 jobs (prepare_dataset 1); requests 0.0 GPU-hours, 0.5 CPU-hours"
    assert lines[1] == (
        "Plan for study quick: 4 jobs (query 1, run_metrics 1, train 2); requests 2.0 GPU-hours, 0.2 CPU-hours"
    )
    assert lines[2].startswith("Plan in all: 5 jobs requesting 2.0 GPU-hours and 0.7 CPU-hours")
    assert len(lines) == 3  # small: no warning


def test_a_large_plan_warns():
    lines = plan_summary([PlannedJob("big", "train", True, 60 * 101)])
    assert lines[-1].startswith("WARNING: this plan is large (101 GPU-hours")
    assert "profiles/workstation" in lines[-1] and "--resources gpu=N" in lines[-1]


def test_submissions_add_up_each_allocations_gpus_times_its_runtime():
    from fal.plan.cost import Submission, submissions_summary

    lines = submissions_summary([Submission(1, 90, 8), Submission(2, 30, 2), Submission(0, 5, 40)])
    assert lines == [
        "Cluster submissions with these groups: 3 (2 GPU allocations requesting 2.5 GPU-hours; up to 40 jobs and "
        "1.5 hours per submission)"
    ]
    assert submissions_summary([]) == []


def test_the_total_says_how_many_requests_were_measured():
    jobs = [PlannedJob("quick", "train", True, 30, measured=True), PlannedJob("quick", "train", True, 30)]
    assert plan_summary(jobs)[-1].endswith(
        "(1 requests measured on finished jobs of the same shape, the others resources.smk's model)"
    )
    assert plan_summary(jobs[1:])[-1].endswith("(resources.smk's model)")
