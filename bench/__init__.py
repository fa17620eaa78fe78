"""Benchmarks run by `make bench`; each measures against a baseline in the same run."""
