"""Configuration baselines (see edgeshade.baseline.api)."""
