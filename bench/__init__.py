"""Benchmarks for scoria_django (not part of the package or the test suite)."""
