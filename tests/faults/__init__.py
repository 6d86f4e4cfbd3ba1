"""The fault suite: real server processes and a real Valkey killed, restarted and stalled while
real clients buy, grab and chat; then what the clients saw acknowledged is compared with what
the store holds. A short version runs with every test run; the long one is asked for with
``pytest tests/faults -m faults_full``."""
