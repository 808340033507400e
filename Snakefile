# FAL reproducibility pipeline. Rules live in workflow/rules/*.smk; the fal/ library does the work.
#   snakemake --cores 2 all                      # the studies in config.yaml's run_studies
#   snakemake --cores 2 reports/quick/table_accuracy.md   # one table
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

from fal.config.base import ConfigError
from fal.plan.config_schema import check_yaml_file

min_version("9.0")

try:  # a syntax error names its line (Snakemake's message does not)
    check_yaml_file(Path(os.path.relpath(Path(workflow.basedir) / "config.yaml")))
except ConfigError as exc:
    sys.exit(str(exc))


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/params.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/query.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/analysis.smk"


rule all:
    default_target: True
    input:
        all_targets(),
