"""The chime: a valid, gentle WAV whose notes are the ones it names."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from rota.device.chime import NOTE_S, NOTES_HZ, PEAK, RING_S, SAMPLE_RATE_HZ, chime_wav


def _samples() -> tuple[np.ndarray, wave._wave_params]:  # type: ignore[type-arg]
    with wave.open(io.BytesIO(chime_wav()), "rb") as wav:
        params = wav.getparams()
        frames = wav.readframes(wav.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(float), params


def test_the_chime_is_a_short_mono_16_bit_wav() -> None:
    samples, params = _samples()
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, SAMPLE_RATE_HZ)
    duration_s = len(samples) / SAMPLE_RATE_HZ
    assert duration_s == pytest.approx(NOTE_S * (len(NOTES_HZ) - 1) + RING_S, abs=0.001)
    assert 0.5 < duration_s < 2.0


def test_the_chime_is_loud_enough_but_never_clips_or_clicks() -> None:
    samples, _ = _samples()
    loudest = np.max(np.abs(samples))
    assert loudest == round(PEAK * 32767)
    # It fades in and out: it starts and ends in silence, and rises over milliseconds.
    assert samples[0] == 0 and abs(samples[-1]) < 0.01 * loudest
    first_ms = samples[: SAMPLE_RATE_HZ // 1000]
    assert np.max(np.abs(first_ms)) < 0.25 * loudest


def test_each_note_sounds_at_its_pitch_in_order() -> None:
    samples, _ = _samples()
    for index, expected_hz in enumerate(NOTES_HZ):
        start = round((index * NOTE_S + 0.02) * SAMPLE_RATE_HZ)
        piece = samples[start : start + round(0.15 * SAMPLE_RATE_HZ)]
        spectrum = np.abs(np.fft.rfft(piece * np.hanning(len(piece)), n=len(piece) * 8))
        found_hz = np.fft.rfftfreq(len(piece) * 8, 1 / SAMPLE_RATE_HZ)[np.argmax(spectrum)]
        assert abs(found_hz - expected_hz) < expected_hz * 0.01, (index, found_hz)


def test_the_same_chime_every_time() -> None:
    assert chime_wav() == chime_wav()
