"""Benchmarks: each compares bodydock side by side with the standard tool or the physical limit."""
