"""`tongbu bench`: benchmarks that run Tongbu and a naive baseline side by side.

Benchmarks measure speed; tests check behaviour. Each bench prints a table and a
ratio against the baseline, and docs/benchmarks.md records the command and numbers.
"""
