"""Benchmarks of the hub against their ceilings on the same machine: webhook intake, first and later syncs, growth.

Run them with ``bench/run`` (see ``bench/README.md``); they are not part of the test suite.
"""
