"""The fuzz suite's report: each fuzz test records what it sent and what it found
(``record_property("fuzz", ...)``), and the counts are printed at the end of the run, captured
output or not."""

# The hooks that print them live in tests/conftest.py: with test workers (pytest-xdist) only
# the conftest files of the test paths are loaded in the process that prints the summary.
