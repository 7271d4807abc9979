"""Region-scale benchmark: a bulk data generator and measurements against same-run baselines."""
