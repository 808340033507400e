"""Run metrics, summaries and tables."""
