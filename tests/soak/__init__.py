"""The soak and fault campaign: a simulated month of bad days (tests/test_soak.py)."""
