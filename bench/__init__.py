"""Benchmarks run by ``make bench`` (tools/bench.sh). Figures, not assertions: nothing here fails on a goal."""
