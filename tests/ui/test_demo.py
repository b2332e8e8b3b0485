"""``./cabin demo --scripted`` as a person runs it: a process, its exit status, its files."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kiosk.store import DatabaseKey, Store
from simulators.mailbox import appointment_code

REPO = Path(__file__).resolve().parents[2]
# A whole scripted consultation takes about 90 s here, up to three times that on a loaded
# machine: the bounds only turn a hang into a failure.
DEMO_LIMIT_S = 480
pytestmark = pytest.mark.timeout(DEMO_LIMIT_S + 120)


def demo(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "demo", "--data", str(tmp_path / "data"), *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=DEMO_LIMIT_S,
        check=False,
    )


def test_the_scripted_demo_plays_a_whole_consultation(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Once: a second whole run (the key and the database reused) cost minutes of the suite's
    # budget; the reuse is checked below by opening what the run left with the key it wrote.
    for run in range(1):
        result = demo(tmp_path, "--out", str(out))
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert report["ok"] is True
        assert all(report["checks"].values()), report["checks"]
        names = [step["name"] for step in report["steps"]]
        assert names[:3] == ["idle-en", "idle-fr", "welcome"]
        assert {"consent", "vitals", "call", "survey", "cleaning"} <= set(names)
        # the patient identified by the code of her confirmation e-mail, in both languages
        assert {
            "appointment-code-en",
            "appointment-greeting-en",
            "appointment-code-fr",
            "appointment-greeting-fr",
            "appointment-birth-date",
        } <= set(names)
        the_booking(out, report)
        assert {"still-there", "assistant-wrong-pin", "assistant-devices"} <= set(names)
        # the agent's self-test: shown in the assistant mode, written beside the rest
        assert "assistant-selftest" in names
        selftest = json.loads((out / "selftest.json").read_text(encoding="utf-8"))
        assert selftest["type"] == "selftest_report" and selftest["trigger"] == "agent"
        speaker = [r for r in selftest["results"] if r["check"] == "speaker"]
        assert [r["outcome"] for r in speaker] == ["skipped"]  # no sound card: never a pass
        # distress: a fall seen by the camera, the agent's answer, both panic buttons, absence
        assert {
            "distress-fall",
            "distress-help-coming",
            "distress-panic-button",
        } <= set(names)
        assert report["checks"]["a patient who left mid-session was wiped"] is True
        assert report["numbers"]["fall_to_overlay_s"] <= 2.0
        agent = json.loads((out / "agent.json").read_text(encoding="utf-8"))
        assert agent["alarm"] == "ringing" and agent["answered"] is True
        assert "Chute" in agent["alert_text"]
        operator = json.loads((out / "operator.json").read_text(encoding="utf-8"))
        assert operator["cabin_state"] == "online" and (out / "fleet-page.png").exists()
        shots = sorted(out.glob("[0-9]*.png"))  # the cabin's; the doctor's are console-*.png
        assert len(shots) == len(names)
        assert {"call-doctor", "call", "call-request", "closing"} <= set(names)
        console = {p.name for p in out.glob("console-*.png")}
        assert {"console-call.png", "console-vitals.png", "console-prescription.png"} <= console
        doctor = json.loads((out / "doctor.json").read_text(encoding="utf-8"))
        assert doctor["prescription_delivered"] is True
        assert doctor["video"]["width"] == 640
        digest = {p.name[3:-4]: hashlib.sha256(p.read_bytes()).hexdigest() for p in shots}
        # After a session, the screen is the very one the next patient finds: nothing left over.
        assert digest.pop("idle-after") == digest.pop("idle-again")
        assert len(set(digest.values())) == len(digest)  # every other screen differs
        assert all(p.stat().st_size > 10_000 for p in shots)
        assert "demo.passed" in result.stderr, run
    key_file = tmp_path / "data" / "db.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "cabin.db").read_bytes()[:16] != b"SQLite format 3\x00"
    # The next start finds its key and its database: the key it wrote opens what it left.
    key = DatabaseKey.from_hex(key_file.read_text(encoding="ascii"), str(key_file))
    reopened = Store.open(tmp_path / "data" / "cabin.db", key)
    try:
        assert reopened.path == tmp_path / "data" / "cabin.db"
    finally:
        reopened.close()
    # The scripted demo's hub is new at each run (simulators.demo_hub.fresh_hub_folder): it made
    # its own key; its database holds the consultation (the patient, the doctor's notes, the
    # appointments) but none of it can be read from its bytes.
    hub_data = tmp_path / "data" / "hub-scripted"
    assert (hub_data / "hub-db.key").stat().st_mode & 0o777 == 0o600
    hub_files = list(hub_data.glob("hub.db*"))
    assert hub_data / "hub.db" in hub_files
    for path in hub_files:
        data = path.read_bytes().lower()
        assert b"sqlite format 3" not in data, path
        assert b"lebreton" not in data and b"jeanne" not in data, path  # ui.scripted_demo
        assert "toux sèche".encode() not in data and b"dr.martin" not in data, path


def the_booking(out: Path, report: dict[str, Any]) -> None:
    """The booking steps of the scripted demo: the public page at a phone's size and the
    coordinator's page in French and English, the code read from the confirmation e-mail the
    local SMTP server took, the caller's no-show, the handover, the Appointment in the
    record."""
    pictures = {p.name for p in out.glob("*.png")}
    for language in ("fr", "en"):
        for step in ("1-town", "2-slots", "3-form", "4-done"):
            assert f"booking-{step}-{language}.png" in pictures
        for step in ("2-form", "3-booked"):
            assert f"coordinator-{step}-{language}.png" in pictures
        for name in ("agenda-noshow", "handover-form", "handover-unread", "handover-read"):
            assert f"console-{name}-{language}.png" in pictures
    with Image.open(out / "booking-1-town-fr.png") as phone:
        assert phone.width == 360  # a phone's width
    message = email.message_from_bytes(
        (out / "booking-confirmation.eml").read_bytes(), policy=email.policy.default
    )
    assert isinstance(message, EmailMessage)
    assert "jeanne.martin-lebreton@demo.example" in str(message["To"])
    code = appointment_code(message)
    patient = report["booking"]["patient"]
    assert patient["seen"]["code"] == code == patient["code_from_email"]
    assert report["booking"]["coordinator"]["seen"]["code"] != code
    # the caller booked by phone got the confirmation by SMS (the provider's local stand-in)
    texts = [json.loads(line) for line in (out / "mail" / "sms.jsonl").read_text().splitlines()]
    caller_code = report["booking"]["coordinator"]["seen"]["code"]
    assert any(t["to"] == "+33639984512" and caller_code in t["text"] for t in texts)
    assert report["booking"]["week"]["seen"]["absent_status"] == "noshow"
    assert report["checks"]["the next week's doctor read the handover first"] is True
    assert report["checks"]["the booked doctor saw the patient booked with them"] is True
    bundle = json.loads((out / "bundle.json").read_text(encoding="utf-8"))
    booked = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Appointment"
    ]
    assert len(booked) == 1
    assert booked[0]["status"] in ("arrived", "fulfilled")
    assert booked[0]["start"].startswith(patient["seen"]["starts_at"][:16])


def test_a_wrong_key_stops_the_cabin_with_a_clear_message(tmp_path: Path) -> None:
    assert demo(tmp_path, "--out", str(tmp_path / "out")).returncode == 0
    database = tmp_path / "data" / "cabin.db"
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    wrong = DatabaseKey.generate().hex()
    result = demo(tmp_path, "--out", str(tmp_path / "out2"), env={"CABIN_DB_KEY": wrong})
    assert result.returncode == 3
    assert "does not open this file" in result.stderr
    assert "left untouched" in result.stderr
    assert wrong not in result.stderr and wrong not in result.stdout
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before


def test_a_wrong_configuration_value_is_named(tmp_path: Path) -> None:
    config = tmp_path / "cabin.toml"
    config.write_text("[session]\ninactivity_timeout_s = -1\n", encoding="utf-8")
    result = demo(tmp_path, "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "session.inactivity_timeout_s" in result.stderr
    assert "(given: -1)" in result.stderr


def test_the_key_never_reaches_the_log_even_verbose(tmp_path: Path) -> None:
    key = DatabaseKey.generate().hex()
    result = demo(tmp_path, "--verbose", "--out", str(tmp_path / "out"), env={"CABIN_DB_KEY": key})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DEBUG" in result.stderr  # it was verbose
    assert key not in result.stderr and key not in result.stdout
