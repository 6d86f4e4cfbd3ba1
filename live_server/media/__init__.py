"""Live video: WHIP ingest, WHEP playback forwarded without re-encoding (docs/ARCHITECTURE.md,
"Media"). ``aiortc_hooks`` is the only module that touches aiortc internals; ``frames`` knows
the codecs' bytes; ``relay`` forwards encoded frames; ``sdp`` decides what an offer may carry;
``ice`` turns the ICE server settings into configuration and headers; ``sessions`` owns the
peer connections; ``service`` applies the rules (who may publish or watch, the media home, room
events). ``hls`` (the HLS writer) consumes ``relay.subscribe_encoded``."""
