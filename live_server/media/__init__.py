"""Live video: WHIP ingest, WHEP playback forwarded without re-encoding (see
docs/ARCHITECTURE.md, "Media"). ``aiortc_hooks`` is the only module that touches aiortc
internals; ``relay`` forwards encoded frames; ``sdp`` decides what an offer may carry;
``sessions`` owns the peer connections; ``service`` applies the rules (who may publish or
watch, the media home, room events)."""
