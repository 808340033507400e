"""Datasets, long-tailed subsets, client partitions, budgets (reference-spec §1–§2)."""
