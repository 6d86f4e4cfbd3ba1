"""The body of a WHIP/WHEP session ``PATCH`` (``application/trickle-ice-sdpfrag``, RFC 8840
as RFC 9725 4.3 uses it), read without I/O: the ICE credentials it names, the candidates of
each media section, and whether it ends the candidates.

A fragment is a restart when it names credentials other than the ones the session was
offered; the caller refuses those (aiortc cannot restart ICE), so only trickle reaches a peer
connection.
"""

from __future__ import annotations

import dataclasses

from live_server.errors import BadSdp

MAX_FRAG_BYTES = 16 * 1024
MAX_CANDIDATES = 64  # a client gathers a handful per interface; more is a misuse


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """One ``a=candidate`` line (without ``a=``) and the section it belongs to."""

    sdp: str
    mid: str | None
    mline_index: int


@dataclasses.dataclass(frozen=True, slots=True)
class SdpFrag:
    ufrag: str | None
    pwd: str | None
    candidates: tuple[Candidate, ...]
    end: bool  # a=end-of-candidates: the client has no more


def parse(text: str) -> SdpFrag:
    """The fragment's content; ``BadSdp`` when it is not a trickle fragment."""
    if len(text) > MAX_FRAG_BYTES:
        raise BadSdp("SDP fragment too large")
    ufrag = pwd = None
    mid: str | None = None
    index = -1
    pending: list[tuple[str, int]] = []  # candidates of the current section, before its a=mid
    found: list[Candidate] = []
    end = False

    def close_section() -> None:
        found.extend(Candidate(c, mid, i) for c, i in pending)
        pending.clear()

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("m="):
            close_section()
            index, mid = index + 1, None
        elif line.startswith("a=ice-ufrag:"):
            ufrag = line.partition(":")[2]
        elif line.startswith("a=ice-pwd:"):
            pwd = line.partition(":")[2]
        elif line.startswith("a=mid:"):
            mid = line.partition(":")[2]
        elif line.startswith("a=candidate:"):
            if index < 0:
                raise BadSdp("a candidate before any m= section")
            if len(line[2:].split()) < 8:
                raise BadSdp("a malformed a=candidate line")
            pending.append((line[2:], index))
        elif line == "a=end-of-candidates":
            end = True
        elif not line.startswith(("a=", "m=", "c=")):
            raise BadSdp("not an SDP fragment (only a=, m= and c= lines)")
    close_section()
    if len(found) > MAX_CANDIDATES:
        raise BadSdp(f"more than {MAX_CANDIDATES} candidates in one fragment")
    return SdpFrag(ufrag, pwd, tuple(found), end)


def is_restart(frag: SdpFrag, ufrag: str, pwd: str) -> bool:
    """Does ``frag`` ask for an ICE restart of a session offered with ``ufrag``/``pwd``?"""
    return ((frag.ufrag is not None and frag.ufrag != ufrag)
            or (frag.pwd is not None and frag.pwd != pwd))


def if_match(header: str | None, etag: str) -> bool | None:
    """``If-Match`` against the session's ETag (RFC 9110 13.1.1, strong comparison):
    None when the header is missing; True for ``*`` or a listed tag equal to ``etag``."""
    if header is None or not header.strip():
        return None
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags


def credentials(sdp: str) -> tuple[str, str]:
    """The first ``a=ice-ufrag`` and ``a=ice-pwd`` of an offer (BUNDLE: one set for all)."""
    ufrag = pwd = ""
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:") and not ufrag:
            ufrag = line.partition(":")[2].strip()
        elif line.startswith("a=ice-pwd:") and not pwd:
            pwd = line.partition(":")[2].strip()
    return ufrag, pwd
