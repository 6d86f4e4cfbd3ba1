"""`python -m loadtest.peers --port P --redis-url URL --secret S [--workers N]`."""

from loadtest.peers.sio_room import main

if __name__ == "__main__":
    main()
