"""Benchmarks and the offline model zoo (see ``benchmarks.models`` and docs/models.md)."""
