"""The chime a device plays: a short rising major arpeggio, synthesised, so no sound file ships.

Each note is a sine with a 5 ms attack, an exponential decay and a 20 ms release (a soft
bell, no clicks), the notes overlapping slightly; the WAV is 16-bit mono PCM written with
the standard library's `wave` module.
"""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from typing import Final

SAMPLE_RATE_HZ: Final = 22_050
NOTES_HZ: Final = (659.25, 830.61, 987.77, 1318.51)
"""E5, G#5, B5, E6: an E major arpeggio, rising."""
NOTE_S: Final = 0.22
"""The distance between the starts of two notes; each rings on a little longer."""
RING_S: Final = 0.45
ATTACK_S: Final = 0.005
RELEASE_S: Final = 0.02
DECAY_PER_S: Final = 7.0
PEAK: Final = 0.45
"""The loudest a sample gets, as a share of full scale (the sum of overlapping notes)."""


def chime_samples() -> array[int]:
    """Return the chime as signed 16-bit samples at SAMPLE_RATE_HZ (about 1.1 s)."""
    total_s = NOTE_S * (len(NOTES_HZ) - 1) + RING_S
    mixed = [0.0] * round(total_s * SAMPLE_RATE_HZ)
    for index, frequency in enumerate(NOTES_HZ):
        start = round(index * NOTE_S * SAMPLE_RATE_HZ)
        step = 2 * math.pi * frequency / SAMPLE_RATE_HZ
        for n in range(round(RING_S * SAMPLE_RATE_HZ)):
            t = n / SAMPLE_RATE_HZ
            fade = min(1.0, t / ATTACK_S, (RING_S - t) / RELEASE_S)
            envelope = fade * math.exp(-DECAY_PER_S * t)
            mixed[start + n] += envelope * math.sin(step * n)
    loudest = max(abs(value) for value in mixed) or 1.0
    scale = PEAK * 32767 / loudest
    return array("h", (round(value * scale) for value in mixed))


def chime_wav() -> bytes:
    """Return the chime as the bytes of a WAV file (16-bit mono PCM)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        samples = chime_samples()
        if sys.byteorder == "big":  # WAV holds little-endian samples
            samples.byteswap()
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
