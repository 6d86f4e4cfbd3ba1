"""Opus to AAC for the HLS rendition. HLS players (Safari, hls.js through MSE) play AAC in
MPEG-TS but not Opus, so audio is the one thing the HLS path transcodes; video is only remuxed.

Cost, measured on one core: Opus decode ~30 µs, resample ~25 µs, AAC encode ~210 µs (FFmpeg's
native encoder with its fast coder) per 20 ms packet — about 1.5% of a core per room, in slices
well under a millisecond, so it runs inline on the caller's thread.
"""

from __future__ import annotations

from fractions import Fraction

import av
from av.audio.frame import AudioFrame

AUDIO_CLOCK = 48_000  # Opus RTP clock, and the AAC sample rate we write
AAC_FRAME = 1024  # samples per AAC-LC frame
_CHANNELS = 2
_SAMPLE_RATE_INDEX = 3  # 48 kHz in the MPEG-4 sampling frequency table
_MAX_SILENCE = AUDIO_CLOCK  # a longer hole is a new start, not a few lost packets


def adts_header(payload_size: int) -> bytes:
    """The 7-byte ADTS header (AAC-LC, 48 kHz, stereo, no CRC) the MPEG-TS muxer expects in
    front of each raw AAC frame when the stream carries no AudioSpecificConfig."""
    length = payload_size + 7
    profile = 1  # AAC-LC (object type 2) minus one
    return bytes((
        0xFF,
        0xF1,  # MPEG-4, layer 0, no CRC
        (profile << 6) | (_SAMPLE_RATE_INDEX << 2) | (_CHANNELS >> 2),
        ((_CHANNELS & 3) << 6) | (length >> 11),
        (length >> 3) & 0xFF,
        ((length & 7) << 5) | 0x1F,
        0xFC,
    ))


class AacTranscoder:
    """Opus packets in, ADTS AAC frames out, timed in samples since this transcoder started.

    Its clock counts the samples it has been given, so a hole in the input (lost packets, DTX)
    must be filled with :meth:`silence` to keep audio in step with video.
    """

    def __init__(self, bit_rate: int = 96_000) -> None:
        self._decoder = av.CodecContext.create("opus", "r")
        self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_CLOCK,
                                            frame_size=AAC_FRAME)
        encoder = av.CodecContext.create("aac", "w")
        encoder.sample_rate = AUDIO_CLOCK
        encoder.layout = "stereo"
        encoder.format = "fltp"
        encoder.bit_rate = bit_rate
        encoder.time_base = Fraction(1, AUDIO_CLOCK)
        encoder.options = {"aac_coder": "fast"}
        self._encoder = encoder
        self._samples_in = 0  # samples handed to the encoder so far: the next frame's pts

    def transcode(self, opus: bytes) -> tuple[int, list[tuple[bytes, int]]]:
        """Decode one Opus packet; return how many samples it held and the AAC frames that
        are ready, each with its pts (which starts one frame early: the encoder's priming)."""
        decoded = self._decoder.decode(av.Packet(opus))
        samples = sum(frame.samples for frame in decoded)
        out: list[tuple[bytes, int]] = []
        for frame in decoded:
            frame.pts = None  # the resampler and our counter do the timing
            out += self._encode(frame)
        return samples, out

    def silence(self, samples: int) -> list[tuple[bytes, int]]:
        """Fill a hole of ``samples`` (capped at one second) with silence."""
        samples = min(samples, _MAX_SILENCE)
        if samples <= 0:
            return []
        frame = AudioFrame(format="fltp", layout="stereo", samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = AUDIO_CLOCK
        return self._encode(frame)

    def _encode(self, frame: AudioFrame) -> list[tuple[bytes, int]]:
        out: list[tuple[bytes, int]] = []
        for chunk in self._resampler.resample(frame):
            chunk.pts = self._samples_in
            self._samples_in += chunk.samples
            for packet in self._encoder.encode(chunk):
                payload = bytes(packet)
                pts = self._samples_in - AAC_FRAME if packet.pts is None else int(packet.pts)
                out.append((adts_header(len(payload)) + payload, pts))
        return out
