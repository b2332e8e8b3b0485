"""The console's pure functions, run in the browser as the console runs them (ES modules from
the hub): every message it builds decodes with `wire`, incoming messages are checked, vitals are
flagged against the adult ranges, the link's quality is classified."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page

import wire
from tests.console.harness import Hub

BUILT_MESSAGES = """(async () => {
  const m = await import('/console/messages.js');
  const candidate = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host',
                      sdpMid: '0', sdpMLineIndex: 0 };
  const line = { drug: 'Paracétamol 1 g', dose: '1 comprimé', frequency: '3 fois par jour',
                 duration: '5 jours', instructions: '', renewals: 0 };
  return {
    hub: [
      m.takeConsultation('c-1'),
      m.sdpAnswer('c-1', 'v=0\\r\\n'),
      m.iceCandidate('c-1', candidate),
      m.iceCandidate('c-1', null),
      m.callEnd('c-1', 'completed'),
      m.prescriptionDraft('c-1', [line]),
      m.consultationNotes('c-1', 'Notes'),
      m.consultationNotes('c-1', 'Notes', 'Conseils pour le patient'),
      m.ack('x-1'),
    ],
    channel: [
      m.heartbeat(),
      m.ack('reading-1'),
      m.measureRequest('c-1', 'spo2'),
      m.callEnd('c-1', 'completed'),
    ],
    ids: Array.from({ length: 50 }, () => m.newMsgId()),
  };
})()"""

CHECKS = """(async () => {
  const v = await import('/console/vitals.js');
  const l = await import('/console/link.js');
  const c = await import('/console/consultation.js');
  const m = await import('/console/messages.js');
  const DELIVERED = '{"type":"prescription_delivered","msg_id":"ok","prescription_id":"RX-1",'
    + '"consultation_id":"c-1","delivered_at":"2026-11-23T09:00:00Z"}';
  const refused = (text) => {
    try { m.parseMessage(text, m.HUB_TO_CONSOLE); return false; }
    catch (e) { return e instanceof m.MessageError; }
  };
  return {
    flags: [
      v.rangeFlag('systolic_mmhg', 140), v.rangeFlag('systolic_mmhg', 141),
      v.rangeFlag('diastolic_mmhg', 59), v.rangeFlag('temperature_c', 36.1),
      v.rangeFlag('temperature_c', 37.9), v.rangeFlag('spo2_percent', 94),
      v.rangeFlag('pulse_bpm', 101), v.rangeFlag('pulse_bpm', 50),
    ],
    quality: [
      l.classify({ kbps: 300, fps: 15, rttMs: 40, lossPercent: 0 }),
      l.classify({ kbps: 120, fps: 15, rttMs: 40, lossPercent: 0 }),
      l.classify({ kbps: 300, fps: 15, rttMs: 400, lossPercent: 1 }),
      l.classify({ kbps: 300, fps: 3, rttMs: 40, lossPercent: 0 }),
      l.classify({ kbps: 300, fps: 15, rttMs: 40, lossPercent: 12 }),
      l.classify({ kbps: null, fps: null, rttMs: null, lossPercent: null }),
    ],
    ages: [c.ageFrom('1944-05-17', new Date(2026, 4, 16)),
           c.ageFrom('1944-05-17', new Date(2026, 4, 17))],
    refused: [
      refused('not json'),
      refused('{"type":"take_consultation","msg_id":"a"}'),
      refused('{"type":"ack","msg_id":"-bad","ack_of":"x"}'),
      refused('{"type":"ack","msg_id":"ok"}'),
      refused('{"type":"sdp_offer","msg_id":"ok","consultation_id":"c","sdp":5}'),
    ],
    accepted: m.parseMessage('{"type":"ack","msg_id":"ok","ack_of":"x"}', m.HUB_TO_CONSOLE).ack_of,
    delivered: m.parseMessage(DELIVERED, m.HUB_TO_CONSOLE).prescription_id,
    undelivered: refused(DELIVERED.replace('"prescription_id":"RX-1",', '')),
  };
})()"""


def test_every_message_the_console_builds_decodes_with_wire(page: Page, hub: Hub) -> None:
    page.goto(hub.url + "/")
    built = page.evaluate(BUILT_MESSAGES)
    for msg in built["hub"]:
        wire.decode(json.dumps(msg), allowed=wire.ConsoleToHub)
    for msg in built["channel"]:
        wire.decode(json.dumps(msg), allowed=wire.CallChannel)
    ids = built["ids"]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]*", i) and len(i) <= 64 for i in ids)
    notes = wire.decode(json.dumps(built["hub"][7]), allowed=wire.ConsoleToHub)
    assert isinstance(notes, wire.ConsultationNotes)
    assert (notes.text, notes.advice) == ("Notes", "Conseils pour le patient")
    heartbeat = wire.decode(json.dumps(built["channel"][0]), allowed=wire.CallChannel)
    assert isinstance(heartbeat, wire.Heartbeat)
    assert heartbeat.sent_at.utcoffset() is not None


def test_ranges_quality_ages_and_refused_messages(page: Page, hub: Hub) -> None:
    page.goto(hub.url + "/")
    result = page.evaluate(CHECKS)
    assert result["flags"] == ["ok", "high", "low", "ok", "high", "low", "high", "ok"]
    assert result["quality"] == ["good", "medium", "medium", "poor", "poor", "unknown"]
    assert result["ages"] == [81, 82]
    assert result["refused"] == [True, True, True, True, True]
    assert result["accepted"] == "x"
    assert result["delivered"] == "RX-1"
    assert result["undelivered"] is True
