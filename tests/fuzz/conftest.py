"""The fuzz suite's report: each fuzz test records what it sent and what it found
(``record_property("fuzz", ...)``), and the counts are printed at the end of the run, captured
output or not."""

from __future__ import annotations

import pytest

_LINES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _LINES.extend(str(value) for name, value in report.user_properties if name == "fuzz")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section("fuzz")
        for line in _LINES:
            terminalreporter.write_line(line)
