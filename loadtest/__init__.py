"""A bounded load test on loopback: python -m loadtest.run (make loadtest)."""
