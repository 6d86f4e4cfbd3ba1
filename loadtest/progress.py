"""The live progress line: so a person watching knows the run is alive and how it is going.

On a terminal the line is redrawn in place once a second; into a file or pipe (CI, tests) a
line is printed every five seconds instead, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from loadtest.stats import Histogram


class Progress:
    def __init__(
        self, *, quiet: bool = False, label: str = "", stream: TextIO | None = None
    ) -> None:
        self.quiet = quiet
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_print = 0.0
        self._drawn = False

    def line(self, row: dict[str, Any], overall: Histogram | None) -> str:
        p99 = overall.percentile(99) if overall is not None and overall.count else None
        p99s = f"{p99:7.1f}ms" if p99 is not None else "      -  "
        return (
            f"[{row['t']:6.1f}s] {self.label:<18} {row['phase']:<10} "
            f"conn {row['connected']:>6}  fail {row['failed']:>4}  "
            f"msg/s {row['deliveries_per_s']:>9,.0f}  p99 {p99s}  "
            f"4008 {row['slow_consumer_closes']:>3}  "
            f"srv {row['server_cpu_pct']:5.1f}%  gen {row['gen_cpu_pct']:5.1f}%"
        )

    def show(self, row: dict[str, Any], overall: Histogram | None) -> None:
        if self.quiet:
            return
        text = self.line(row, overall)
        if self.tty:
            self.stream.write("\r" + text)
            self._drawn = True
            self.stream.flush()
        elif time.monotonic() - self._last_print >= 5.0:
            self._last_print = time.monotonic()
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self) -> None:
        if self._drawn and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
