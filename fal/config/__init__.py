"""The typed configuration a job computes with: settings, protocol, fidelity switches, resolved
strategies, runtime, budgets, and the declaration types every extension uses (methods, FL algorithms,
datasets, paper outputs).

A job imports only the modules it needs from here (this package imports nothing itself, so that a
job's code hash covers exactly those). Resolving a study from ``config.yaml``, checking it against the
catalogs and computing each job's params is the planning side's work (``fal.plan``), which no job imports.
"""
