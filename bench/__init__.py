"""Benchmarks of the detection service against plain-script baselines: `python -m bench`.

Everything is measured in one run on one machine and written to bench/RESULTS.md; see
bench/run.py for the command line and bench/RESULTS.md for the figures and what they mean.
"""
