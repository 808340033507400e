"""fal: the library behind the FAL reproducibility pipeline.

One subpackage per pipeline stage: ``data`` (datasets, long tails, partitions, budgets),
``federated`` (models, FedAvg, local-only models), ``strategies`` (query methods), ``stats``
(metrics and tables), ``plots``. Pure functions with explicit config objects and generators; this
package never imports Snakemake.
"""

__version__ = "0.1.0"
