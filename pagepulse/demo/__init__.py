"""Generated traffic: the demo account (``setup``) and the generator behind it, the tests
and the benchmarks (``generator``, drawing from ``vocabulary``)."""
