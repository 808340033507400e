"""Models, federated training and local-only query models (reference-spec §3–§5)."""
