"""The benchmark harness (`make bench`): see bench/harness.py and bench/RESULTS.md."""
