"""Benchmarks: our coordinator against GNU make and go-task on the same job graphs.

Run as `python -m bench` (see `python -m bench --help`). Benchmarks print and
write figures; they never assert on timings (docs/spec.md).
"""
