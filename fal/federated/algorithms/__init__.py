"""Federated learning algorithms behind one interface (``fedavg.FedAvg``), one module each, each declaring
itself (``ALGORITHM``). A training job loads its algorithm's class by the entry point in its params
(fal.registry.load_entry); the planning side lists them (fal.plan.catalog.ALGORITHMS)."""
