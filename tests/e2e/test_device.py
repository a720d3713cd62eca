"""`rota device` as a user runs it: real server and device processes, real signals.

A device is handed its reminders ahead of time, keeps them in its file and rings them by
its own clock: on time, with the server gone, once across its own restart; a cancel takes
a held reminder away.
"""

from __future__ import annotations

import json
import subprocess
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from rota.device.chime import NOTE_S, NOTES_HZ
from tests.e2e.conftest import Cluster, wait_for

RING_WITHIN_S = 0.1
"""The issue's promise: a device rings within 100 ms of the due moment."""


def start_device(cluster: Cluster, name: str = "laptop", *extra: str) -> subprocess.Popen[bytes]:
    """Start `rota device` writing its chimes as WAVs, and wait until it is online."""
    proc = cluster._spawn(
        [
            "device",
            "--server",
            cluster.url,
            "--name",
            name,
            "--audio-out",
            str(audio_dir(cluster, name)),
            "--holdings",
            str(holdings_file(cluster, name)),
            *extra,
        ],
        cluster._env({}),
        f"device-{name}.log",
    )
    wait_for(lambda: cluster.worker_state(name) == "online", 60, f"device {name} online")
    return proc


def audio_dir(cluster: Cluster, name: str) -> Path:
    return cluster.tmp_path / f"audio-{name}"


def holdings_file(cluster: Cluster, name: str) -> Path:
    return cluster.tmp_path / f"{name}.json"


def remind(cluster: Cluster, text: str, due_at: datetime, device: str = "laptop") -> Any:
    return cluster.submit(
        {
            "task": "rota.remind",
            "queue": "reminders",
            "target": f"device:{device}",
            "run_at": due_at.isoformat(),
            "kwargs": {"text": text},
        }
    )


def held_ids(cluster: Cluster, name: str = "laptop") -> list[str]:
    path = holdings_file(cluster, name)
    if not path.exists():
        return []
    return [item["job_id"] for item in json.loads(path.read_text())["held"]]


def chimes(cluster: Cluster, job_id: str, name: str = "laptop") -> list[Path]:
    return sorted(audio_dir(cluster, name).glob(f"*-{job_id}.wav"))


def written_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def dominant_hz(samples: np.ndarray[Any, Any], rate: int) -> float:
    window = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(window, n=len(samples) * 8))
    return float(np.fft.rfftfreq(len(samples) * 8, 1 / rate)[int(np.argmax(spectrum))])


def test_a_device_rings_on_time_and_its_wav_is_the_chime(cluster: Cluster) -> None:
    cluster.start_server()
    start_device(cluster)
    due_at = datetime.now(UTC) + timedelta(seconds=4)
    job = remind(cluster, "Stand-up", due_at)
    # Handed over ahead of time: held in the device's file before it is due.
    wait_for(lambda: job["id"] in held_ids(cluster), 3, "the device to hold the reminder")
    assert datetime.now(UTC) < due_at
    done = cluster.wait_finished(job["id"])
    assert done["state"] == "succeeded", done
    [wav_path] = chimes(cluster, job["id"])
    result = done["result"]
    assert datetime.fromisoformat(result["due_at"]) == due_at
    rung_at = datetime.fromisoformat(result["rung_at"])
    assert 0 <= (rung_at - due_at).total_seconds() <= RING_WITHIN_S
    assert abs((written_at(wav_path) - due_at).total_seconds()) <= RING_WITHIN_S
    assert result["late"] is False and result["device"] == "laptop"
    assert f"wav:{wav_path}" in result["via"]
    assert held_ids(cluster) == []
    # The WAV holds the chime's notes, in order: each note's slice peaks at its pitch.
    with wave.open(str(wav_path), "rb") as wav:
        rate = wav.getframerate()
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(float)
    assert len(samples) / rate > NOTE_S * len(NOTES_HZ)
    for index, expected_hz in enumerate(NOTES_HZ):
        start = round((index * NOTE_S + 0.02) * rate)
        found_hz = dominant_hz(samples[start : start + round(0.15 * rate)], rate)
        assert abs(found_hz - expected_hz) < expected_hz * 0.01, (index, found_hz)


def test_the_device_rings_with_the_server_gone_and_reports_when_it_is_back(
    cluster: Cluster,
) -> None:
    server = cluster.start_server()
    start_device(cluster)
    due_at = datetime.now(UTC) + timedelta(seconds=8)
    job = remind(cluster, "Take the bread out", due_at)
    wait_for(lambda: job["id"] in held_ids(cluster), 5, "the device to hold the reminder")
    time.sleep(max(0.0, (due_at - timedelta(seconds=5) - datetime.now(UTC)).total_seconds()))
    cluster.kill(server)
    [wav_path] = wait_for(lambda: chimes(cluster, job["id"]), 15, "the chime")
    assert abs((written_at(wav_path) - due_at).total_seconds()) <= RING_WITHIN_S
    cluster.start_server()
    done = cluster.wait_finished(job["id"])
    assert done["state"] == "succeeded", done
    rung_at = datetime.fromisoformat(done["result"]["rung_at"])
    assert 0 <= (rung_at - due_at).total_seconds() <= RING_WITHIN_S
    assert done["result"]["late"] is False
    assert chimes(cluster, job["id"]) == [wav_path]


def test_a_killed_device_rings_from_its_file_after_a_restart_exactly_once(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    device = start_device(cluster)
    due_at = datetime.now(UTC) + timedelta(seconds=6)
    job = remind(cluster, "Call back", due_at)
    wait_for(lambda: job["id"] in held_ids(cluster), 5, "the device to hold the reminder")
    cluster.kill(device)
    start_device(cluster)
    done = cluster.wait_finished(job["id"])
    assert done["state"] == "succeeded", done
    [wav_path] = chimes(cluster, job["id"])
    assert datetime.fromisoformat(done["result"]["rung_at"]) == written_at_from_name(wav_path)
    # Nothing rings it again later: not a re-delivery, not the file.
    time.sleep(1.5)
    assert chimes(cluster, job["id"]) == [wav_path]
    assert held_ids(cluster) == []


def test_a_cancel_reaches_a_device_that_holds_the_reminder(cluster: Cluster) -> None:
    cluster.start_server()
    start_device(cluster)
    due_at = datetime.now(UTC) + timedelta(seconds=4)
    job = remind(cluster, "Never mind", due_at)
    kept = remind(cluster, "Still on", due_at + timedelta(seconds=1))
    wait_for(lambda: len(held_ids(cluster)) == 2, 3, "the device to hold both reminders")
    response = cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
    assert response.status_code == 200, response.text
    wait_for(lambda: held_ids(cluster) == [kept["id"]], 5, "the device to drop the reminder")
    assert cluster.wait_finished(job["id"])["state"] == "cancelled"
    assert cluster.wait_finished(kept["id"])["state"] == "succeeded"
    assert chimes(cluster, job["id"]) == []


def written_at_from_name(path: Path) -> datetime:
    """Return the ring moment a WAV's name records (`<time>-<job id>.wav`)."""
    stamp = path.name.split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)


def test_an_edit_reaches_a_device_that_holds_the_reminder(cluster: Cluster) -> None:
    cluster.start_server()
    start_device(cluster)
    first_due = datetime.now(UTC) + timedelta(seconds=3)
    job = remind(cluster, "Stand-up", first_due)
    wait_for(lambda: job["id"] in held_ids(cluster), 3, "the device to hold the reminder")
    moved_to = first_due + timedelta(seconds=2)
    body = {"run_at": moved_to.isoformat(), "kwargs": {"text": "Stand-up, moved"}}
    response = cluster.request("PATCH", f"/api/v1/jobs/{job['id']}", json=body)
    assert response.status_code == 200, response.text
    done = cluster.wait_finished(job["id"])
    assert done["state"] == "succeeded", done
    [wav_path] = chimes(cluster, job["id"])
    assert datetime.fromisoformat(done["result"]["due_at"]) == moved_to
    assert abs((written_at(wav_path) - moved_to).total_seconds()) <= RING_WITHIN_S
    held = json.loads(holdings_file(cluster, "laptop").read_text())
    assert list(held["rung"]) == [f"{job['id']}@{moved_to.isoformat()}"]
