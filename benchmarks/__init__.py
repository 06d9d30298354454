"""The fleet benchmark: coursegen's engine beside the per-job pollers people write.

Run it with `uv run --group bench python -m benchmarks.fleet` (see benchmarks/README.md).
"""
