"""Tests of the offline model zoo (benchmarks.models)."""
