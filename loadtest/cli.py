"""The command line: `python -m loadtest SCENARIO ...`, `compare SCENARIO ...`, `check`, `list`.

Why subcommands per scenario: each scenario adds its own options next to the common ones, and
`--help` on a scenario shows exactly the options that apply to it. The parser itself is in
`options.py`; this module only dispatches.
"""

from __future__ import annotations

import os
import sys

from loadtest import floor
from loadtest.check import run_check
from loadtest.compare import run_compare
from loadtest.options import build_parser, options_from
from loadtest.runner import run_and_report
from loadtest.scenarios import load_all


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command == "list":
        scenarios = load_all()
        width = max(map(len, scenarios))
        for name, cls in scenarios.items():
            print(f"{name:<{width}}  {cls.summary}")
        return 0
    if ns.command == "compare":
        return run_compare(ns)
    if ns.command == "check":
        return run_check(ns)
    if ns.command == "write-floor":
        return floor.run_floor(ns)
    return run_and_report(options_from(ns))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
