"""Benchmarks from ../shared/BENCH.md: measurements, not tests. Run ``python -m bench``."""
