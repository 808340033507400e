"""What a user reads after a mistake in a configuration file or on the command line: one line that names
their file and the key first, in words, before any job runs, with no workflow traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from helpers import base_config, copy_project, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("messages"), base_config())


CASES = [
    # (override file content, the line's expected start: the file that set the key, the key, what is wrong)
    (
        {"studies": {"quick": {"tables": ["table5_6", "kafal_table4"]}}},
        "mine.yaml: studies.quick.tables: kafal_table4 reads the mean AUC of multi-label data, and this study's datasets are single-label",
    ),
    (
        {"studies": {"quick": {"datasets": ["octmnist"], "data": {"test_per_class": 50}}}},
        "config.yaml: studies.quick.rho: no dataset of this study is long-tailed",  # rho is config.yaml's
    ),
    (
        {"studies": {"quick": {"strategies": ["random", "entropy_gg"]}}},
        "mine.yaml: studies.quick.strategies: unknown strategy 'entropy_gg' (did you mean entropy_g",
    ),
    ({"protocol": {"lr": 0}}, "mine.yaml: protocol.lr: must be > 0, got 0"),
    (
        {"studies": {"quick": {"protocol": {"rounds": 0}}}},
        "mine.yaml: studies.quick.protocol.rounds: must be >= 1, got 0",
    ),
    (
        {"strategies": {"fairfal": {"method": "fairfal", "options": {"kappa": "four"}}}},
        "mine.yaml: strategies.fairfal.options.kappa: must be a number >= 1, got 'four'",
    ),
]


@pytest.mark.parametrize("override, expected", CASES)
def test_a_mistake_in_an_override_names_the_file_and_key_first(project, override, expected):
    (project / "mine.yaml").write_text(yaml.safe_dump(override))
    proc = snakemake(project, "-n", "all", "--configfile", "mine.yaml", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    lines = [line for line in output.splitlines() if line.startswith(expected)]
    assert len(lines) == 1, output[-2000:]
    assert "WorkflowError" not in output and "common.smk" not in output and "Traceback" not in output


def test_a_mistake_on_the_command_line_names_it(project):
    proc = snakemake(project, "-n", "all", "--config", 'run_studies=["quik"]', check=False)
    assert "--config: run_studies: unknown study 'quik' (did you mean quick?)" in proc.stdout + proc.stderr


def test_config_yaml_syntax_errors_name_the_line(project):
    text = (project / "config.yaml").read_text()
    (project / "config.yaml").write_text(text.replace("run_studies:", "run_studies: [", 1))
    try:
        proc = snakemake(project, "-n", "all", check=False)
        assert (proc.stdout + proc.stderr).startswith("config.yaml, line 2, column 1: YAML syntax error")
    finally:
        (project / "config.yaml").write_text(text)


def test_an_override_files_syntax_error_is_named_by_the_checker(project):
    """Snakemake reads --configfile files itself, before the workflow, and says only "not valid JSON or YAML":
    `make check-config` (python -m fal.plan.check) names the file, line and column, then the keys."""
    (project / "broken.yaml").write_text("studies:\n  quick:\n    protocol: {rounds: [1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "fal.plan.check", "broken.yaml"], cwd=project, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("broken.yaml, line 4, column 1: YAML syntax error")
    (project / "fine.yaml").write_text(yaml.safe_dump({"studies": {"quick": {"protocol": {"rounds": 0}}}}))
    proc = subprocess.run(
        [sys.executable, "-m", "fal.plan.check", "fine.yaml"], cwd=project, capture_output=True, text=True
    )
    assert proc.stderr.strip() == "fine.yaml: studies.quick.protocol.rounds: must be >= 1, got 0"
