"""Benchmarks: oneonone measured side by side with the bare API floor."""
