"""Load generator for live_server: simulated viewers, scenarios, server cost figures, reports.

It speaks only the public protocol (docs/PROTOCOL.md) and never imports the server's modules.
Run `python -m loadtest --help`; README.md explains every option and figure.
"""
