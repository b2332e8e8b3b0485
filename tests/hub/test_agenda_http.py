"""The console's agenda, handover and follow-up API, through a real hub: doctors only, CSRF,
another doctor's handover not editable, everything audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.hub.agenda_week import NOW, seed_week
from tests.hub.hub_rig import FakeClock, Rig, run, running_hub


async def _json(response: Any, status: int = 200) -> Any:
    assert response.status == status, (response.status, await response.text())
    return await response.json()


async def _actions(rig: Rig) -> list[tuple[str, str, str | None, str | None]]:
    entries = await rig.hub.storage.audit_entries()
    return [(e.action, e.actor_id, e.consultation_id, e.subject) for e in entries]


def test_the_agenda_shows_each_state_the_late_and_the_week_counts_no_shows(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(NOW)) as rig:
            await seed_week(rig.hub.storage, "dr.a", "dr.b")
            doctor = await rig.login("dr.a")
            today = await _json(await doctor.http.get(f"{rig.url}/api/agenda"))
            assert today["today"] == "2026-12-09" == today["first_day"] == today["last_day"]
            assert today["timezone"] == "Europe/Paris"
            (day,) = today["days"]
            shown = [
                (e["local_time"], e["family_name"], e["status"], e["late"]) for e in day["entries"]
            ]
            assert shown == [
                ("08:30", "Bernard", "seen", False),
                ("09:00", "Lefèvre", "noshow", False),
                ("10:00", "Quélennec", "in_cabin", False),
                ("10:00", "Le Gall", "checked_in", True),
                ("10:15", "Petit", "booked", True),
                ("11:00", "Moreau", "booked", False),
            ]
            petit = day["entries"][4]
            assert (petit["late_min"], petit["age_years"], petit["town"]) == (5, 7, "Murat")
            assert today["counts"] == {
                "booked": 2,
                "checked_in": 1,
                "in_cabin": 1,
                "seen": 1,
                "noshow": 1,
                "cancelled": 1,
            }
            week = await _json(await doctor.http.get(f"{rig.url}/api/agenda?span=week"))
            assert (week["first_day"], week["last_day"]) == ("2026-12-07", "2026-12-13")
            assert [len(d["entries"]) for d in week["days"]] == [2, 2, 6, 1, 0, 0, 0]
            assert week["counts"]["noshow"] == 3
            assert week["counts"]["seen"] == 3
            # Doctor B is on the rota next week only.
            other = await rig.login("dr.b")
            empty = await _json(await other.http.get(f"{rig.url}/api/agenda?span=week"))
            assert all(d["entries"] == [] for d in empty["days"])
            nextweek = await _json(
                await other.http.get(f"{rig.url}/api/agenda?span=week&day=2026-12-14")
            )
            assert nextweek["first_day"] == "2026-12-14"
            assert len(nextweek["shifts"]) == 2
            bad = await other.http.get(f"{rig.url}/api/agenda?day=tomorrow")
            assert bad.status == 400

    run(scenario())


def test_only_doctors_signed_in_and_with_the_csrf_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(NOW)) as rig:
            await seed_week(rig.hub.storage, "dr.a", "dr.b")
            anonymous = rig.client()
            for path in ("/api/agenda", "/api/handovers", "/api/followups"):
                assert (await anonymous.get(f"{rig.url}{path}")).status == 401
            await rig.add_agent("agent.mairie")
            agent = rig.client()
            response = await rig.login_response("agent.mairie", "password-of-an-agent", http=agent)
            assert response.status == 200
            for path in ("/api/agenda", "/api/handovers", "/api/handovers/draft"):
                assert (await agent.get(f"{rig.url}{path}")).status == 403
            doctor = await rig.login("dr.a")
            body = {"summary": "Semaine calme", "items": []}
            no_token = await doctor.http.post(
                f"{rig.url}/api/handovers", json=body, headers={"Origin": rig.url}
            )
            assert no_token.status == 403
            wrong_origin = await doctor.post(
                "/api/handovers", json=body, headers={"Origin": "http://evil.example"}
            )
            assert wrong_origin.status == 403
            flag = await doctor.http.post(
                f"{rig.url}/api/consultations/c-wed-cabin/followups",
                json={"note": "x"},
                headers={"Origin": rig.url},
            )
            assert flag.status == 403
            assert (
                await rig.hub.storage.handovers(  # type: ignore[attr-defined]
                    written_from=NOW.replace(year=2025), written_before=NOW.replace(year=2027)
                )
                == []
            )

    run(scenario())


def test_a_handover_goes_to_the_next_doctor_who_acknowledges_it_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock(NOW)
        async with running_hub(tmp_path, clock=clock) as rig:
            week = await seed_week(rig.hub.storage, "dr.a", "dr.b")
            a, b = await rig.login("dr.a"), await rig.login("dr.b")
            draft = await _json(await a.http.get(f"{rig.url}/api/handovers/draft"))
            assert draft["cabin_ids"] == ["cabin-1", "cabin-2"]
            assert [d["username"] for d in draft["next_doctors"]] == ["dr.b"]
            linkable = [c["consultation_id"] for c in draft["consultations"]]
            assert linkable[:2] == ["c-wed-cabin", "c-wed-seen"]
            assert "c-wed-wait" not in linkable  # nobody took it yet
            body = {
                "summary": "Semaine chargée à Murat.",
                "items": [
                    {
                        "kind": "patient",
                        "text": "Mme Quélennec : TA à recontrôler",
                        "consultation_id": week.in_cabin_consultation,
                        "due_on": "2026-12-16",
                    },
                    {"kind": "result", "text": "NFS de M. Durand attendue"},
                    {"kind": "action", "text": "   "},
                ],
            }
            written = await _json(await a.post("/api/handovers", json=body), 201)
            handover = written["handover"]
            handover_id = handover["handover_id"]
            assert handover["recipients"] == ["dr.b"]
            assert len(handover["items"]) == 2  # the blank one dropped
            assert written["linked"] == {"c-wed-cabin": "Quélennec Yvonne, 88"}
            unknown = {
                "summary": "x",
                "items": [{"kind": "patient", "text": "y", "consultation_id": "c-nowhere"}],
            }
            assert (await a.post("/api/handovers", json=unknown)).status == 400
            nobody = {"summary": "x", "recipients": ["dr.nobody"]}
            assert (await a.post("/api/handovers", json=nobody)).status == 400
            bad_kind = {"summary": "x", "items": [{"kind": "gossip", "text": "y"}]}
            assert (await a.post("/api/handovers", json=bad_kind)).status == 400

            inbox_b = await _json(await b.http.get(f"{rig.url}/api/handovers"))
            assert inbox_b["unread"] == 1
            (entry,) = inbox_b["handovers"]
            assert (entry["mine"], entry["read_at"], entry["author"]["display_name"]) == (
                False,
                None,
                "Dr A",
            )
            # B may not edit it; A may.
            edit = {**body, "summary": "Réécrit par B"}
            refused = await b.http.put(
                f"{rig.url}/api/handovers/{handover_id}",
                json=edit,
                headers={"Origin": rig.url, "X-CSRF-Token": b.csrf},
            )
            assert refused.status == 403
            edited = await a.http.put(
                f"{rig.url}/api/handovers/{handover_id}",
                json={**body, "summary": "Semaine chargée à Murat et Saint-Flour."},
                headers={"Origin": rig.url, "X-CSRF-Token": a.csrf},
            )
            assert (await _json(edited))["handover"]["summary"].endswith("Saint-Flour.")
            # B reads the linked consultation, acknowledges (twice: recorded once).
            history = await _json(
                await b.http.get(
                    f"{rig.url}/api/handovers/{handover_id}/consultations/c-wed-cabin/history"
                )
            )
            assert {e["consultation_id"] for e in history["entries"]} == {"c-tue", "c-wed-cabin"}
            not_linked = await b.http.get(
                f"{rig.url}/api/handovers/{handover_id}/consultations/c-mon/history"
            )
            assert not_linked.status == 403
            clock.advance(600)
            read = await _json(await b.post(f"/api/handovers/{handover_id}/read"))
            assert read["reader"] == "dr.b"
            again = await _json(await b.post(f"/api/handovers/{handover_id}/read"))
            assert again["read_at"] == read["read_at"]
            assert (await _json(await b.http.get(f"{rig.url}/api/handovers")))["unread"] == 0
            # The author sees who read it, and cannot acknowledge their own.
            mine = (await _json(await a.http.get(f"{rig.url}/api/handovers")))["handovers"][0]
            assert mine["mine"] and [r["reader"]["username"] for r in mine["reads"]] == ["dr.b"]
            assert (await a.post(f"/api/handovers/{handover_id}/read")).status == 400
            actions = await _actions(rig)
            assert ("handover.written", "dr.a", None, handover_id) in actions
            assert ("handover.linked", "dr.a", "c-wed-cabin", handover_id) in actions
            assert ("handover.edit_denied", "dr.b", None, handover_id) in actions
            assert ("history.read", "dr.b", "c-wed-cabin", handover_id) in actions
            assert [a for a in actions if a[0] == "handover.read"] == [
                ("handover.read", "dr.b", None, handover_id)
            ]

    run(scenario())


def test_a_patient_flagged_to_follow_up_is_on_the_next_doctors_list_until_cleared(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(NOW)) as rig:
            await seed_week(rig.hub.storage, "dr.a", "dr.b")
            a, b = await rig.login("dr.a"), await rig.login("dr.b")
            note = {"note": "Revoir la TA dans 8 jours"}
            flagged = await _json(
                await a.post("/api/consultations/c-wed-cabin/followups", json=note), 201
            )
            followup_id = flagged["followup"]["followup_id"]
            assert (flagged["family_name"], flagged["flagged_by"]["username"]) == (
                "Quélennec",
                "dr.a",
            )
            # Only the doctor who saw the patient flags them.
            assert (
                await b.post("/api/consultations/c-wed-cabin/followups", json=note)
            ).status == 403
            on_b = await _json(await b.http.get(f"{rig.url}/api/followups"))
            (shown,) = on_b["followups"]
            assert shown["followup"]["note"] == "Revoir la TA dans 8 jours"
            assert shown["given_names"] == "Yvonne"
            history = await _json(
                await b.http.get(f"{rig.url}/api/followups/{followup_id}/history")
            )
            assert "c-wed-cabin" in {e["consultation_id"] for e in history["entries"]}
            assert (
                await b.post(f"/api/followups/{followup_id}/clear", json={"note": " "})
            ).status == 400
            cleared = await _json(
                await b.post(f"/api/followups/{followup_id}/clear", json={"note": "TA normale"})
            )
            assert cleared["followup"]["clear_note"] == "TA normale"
            assert cleared["cleared_by"]["username"] == "dr.b"
            again = await b.post(f"/api/followups/{followup_id}/clear", json={"note": "encore"})
            assert again.status == 409
            assert (await _json(await b.http.get(f"{rig.url}/api/followups")))["followups"] == []
            of_consultation = await _json(
                await a.http.get(f"{rig.url}/api/consultations/c-wed-cabin/followups")
            )
            assert [f["followup"]["cleared_by"] for f in of_consultation["followups"]] == ["dr.b"]
            actions = await _actions(rig)
            assert ("followup.flagged", "dr.a", "c-wed-cabin", followup_id) in actions
            assert ("followup.denied", "dr.b", "c-wed-cabin", None) in actions
            assert ("followup.cleared", "dr.b", "c-wed-cabin", followup_id) in actions
            assert ("history.read", "dr.b", "c-wed-cabin", followup_id) in actions

    run(scenario())


def test_a_late_patient_marked_no_show_who_comes_shows_as_arrived_late(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(NOW)) as rig:
            await seed_week(rig.hub.storage, "dr.a", "dr.b")
            doctor = await rig.login("dr.a")
            # Lefèvre's 09:00 was marked a no-show; he comes at 10:20.
            arrived = await rig.hub.storage.mark_arrived("a-wed-2", at=NOW, consultation_id=None)
            assert arrived is not None
            today = await _json(await doctor.http.get(f"{rig.url}/api/agenda"))
            (lefevre,) = [e for e in today["days"][0]["entries"] if e["family_name"] == "Lefèvre"]
            assert (lefevre["status"], lefevre["late"], lefevre["late_min"]) == (
                "checked_in",
                True,
                80,
            )
            assert today["counts"]["noshow"] == 0
            # A flagged consultation says so in the agenda.
            assert not any(e["followup_open"] for e in today["days"][0]["entries"])
            await doctor.post("/api/consultations/c-wed-seen/followups", json={"note": "x"})
            again = await _json(await doctor.http.get(f"{rig.url}/api/agenda"))
            flagged = [
                e["appointment_id"] for e in again["days"][0]["entries"] if e["followup_open"]
            ]
            assert flagged == ["a-wed-1"]

    run(scenario())


def test_garbage_is_refused_plainly_never_a_server_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock(NOW)) as rig:
            await seed_week(rig.hub.storage, "dr.a", "dr.b")
            a = await rig.login("dr.a")
            bodies: list[tuple[str, Any]] = [
                (
                    "/api/handovers",
                    {"data": b"\xff\xfe{", "headers": {"Content-Type": "application/json"}},
                ),
                ("/api/handovers", {"data": b"summary=x"}),
                ("/api/handovers", {"json": {"summary": 3}}),
                (
                    "/api/handovers",
                    {
                        "json": {
                            "summary": "x",
                            "items": [{"kind": "patient", "text": "y", "due_on": "soon"}],
                        }
                    },
                ),
                ("/api/handovers", {"json": {"summary": "x", "extra": 1}}),
                ("/api/handovers", {"json": {"summary": "", "items": []}}),
                ("/api/handovers", {"json": {"summary": "x" * 5000}}),
                ("/api/handovers/" + "h" * 300 + "/read", {"json": {}}),
                ("/api/consultations/" + "c" * 300 + "/followups", {"json": {"note": "x"}}),
                ("/api/followups/nope/clear", {"json": {"note": "x"}}),
                ("/api/followups/nope/clear", {"json": ["x"]}),
            ]
            for path, kwargs in bodies:
                response = await a.post(path, **kwargs)
                assert 400 <= response.status < 500, (path, kwargs, response.status)
            for path in (
                "/api/agenda?day=2026-13-45",
                "/api/handovers/nope/consultations/c-mon/history",
                "/api/followups/nope/history",
                "/api/consultations/c-wed-wait/followups",
            ):
                response = await a.http.get(f"{rig.url}{path}")
                assert 400 <= response.status < 500, (path, response.status)

    run(scenario())
