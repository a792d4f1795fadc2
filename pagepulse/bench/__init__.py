"""Benchmarks run by ``pagepulse bench …``: loopback only, bounded in count and time."""
