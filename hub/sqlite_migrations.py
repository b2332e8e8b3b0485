"""The SQLite schema, as an ordered list of migrations.

Migration *n* brings the schema from ``user_version`` n-1 to n. Each runs in one transaction
with the version bump, so a crash leaves the schema at one version or the next, never between.
Never edit a migration that has shipped: add the next one. No table has a column for a session
description or an ICE candidate: signaling lives in memory only.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the first schema.
    (
        """CREATE TABLE doctors (
            username TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            display_name TEXT NOT NULL,
            specialty TEXT NOT NULL,
            registration_number TEXT,
            photo BLOB,
            failed_attempts INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE sessions (
            token_sha256 TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES doctors(username) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        "CREATE INDEX sessions_by_expiry ON sessions(expires_at)",
        """CREATE TABLE cabins (
            cabin_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            token_sha256 TEXT NOT NULL,
            provisioned_at TEXT NOT NULL
        )""",
        """CREATE TABLE consultations (
            consultation_id TEXT PRIMARY KEY,
            cabin_id TEXT NOT NULL,
            patient TEXT NOT NULL,
            match_key TEXT NOT NULL,
            reason TEXT NOT NULL,
            age_years INTEGER,
            sex TEXT NOT NULL,
            language TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('waiting', 'taken', 'ended', 'left')),
            doctor TEXT REFERENCES doctors(username),
            joined_at TEXT NOT NULL,
            taken_at TEXT,
            ended_at TEXT,
            notes TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX consultations_by_patient ON consultations(match_key, joined_at)",
        """CREATE TABLE readings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            consultation_id TEXT NOT NULL REFERENCES consultations(consultation_id),
            msg_id TEXT NOT NULL,
            vital TEXT NOT NULL,
            received_at TEXT NOT NULL,
            UNIQUE (consultation_id, msg_id)
        )""",
        """CREATE TABLE prescriptions (
            prescription_id TEXT PRIMARY KEY,
            consultation_id TEXT NOT NULL REFERENCES consultations(consultation_id),
            doctor TEXT NOT NULL REFERENCES doctors(username),
            issued_at TEXT NOT NULL,
            prescriber TEXT NOT NULL,
            lines TEXT NOT NULL,
            key_id TEXT NOT NULL,
            signature TEXT NOT NULL
        )""",
        "CREATE INDEX prescriptions_by_consultation ON prescriptions(consultation_id)",
        """CREATE TABLE prescription_sequences (
            year INTEGER PRIMARY KEY,
            last INTEGER NOT NULL
        )""",
        """CREATE TABLE records (
            record_id TEXT PRIMARY KEY,
            consultation_id TEXT NOT NULL,
            cabin_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            bundle BLOB NOT NULL
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor_kind TEXT NOT NULL,
            actor_id TEXT NOT NULL,
            action TEXT NOT NULL,
            consultation_id TEXT,
            client_address TEXT
        )""",
        "CREATE INDEX audit_by_consultation ON audit_log(consultation_id, id)",
    ),
    # 2: the delivery of prescriptions to their cabin. `msg_id` is the id the prescription is
    # sent under (every time: the cabin's Ack names it); `delivered_at` is when the cabin
    # acknowledged it. Those issued before are not known to have arrived: they count as not
    # delivered, under an id made from their number.
    (
        "ALTER TABLE prescriptions ADD COLUMN msg_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE prescriptions ADD COLUMN delivered_at TEXT",
        "UPDATE prescriptions SET msg_id = 'hub-' || prescription_id",
        "CREATE UNIQUE INDEX prescriptions_by_msg_id ON prescriptions(msg_id)",
        "CREATE INDEX prescriptions_undelivered ON prescriptions(issued_at)"
        " WHERE delivered_at IS NULL",
    ),
    # 3: what a prescription says of its prescriber besides the name, specialty and RPPS.
    (
        "ALTER TABLE doctors ADD COLUMN address TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE doctors ADD COLUMN phone TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE doctors ADD COLUMN email TEXT NOT NULL DEFAULT ''",
    ),
    # 4: the address of the page where a pharmacy checks the prescription, as it was sent (it
    # is not signed, and the hub's public address may change: kept so that every copy is the
    # same). Those issued before have none.
    ("ALTER TABLE prescriptions ADD COLUMN check_url TEXT",),
    # 5: the doctor's advice for the patient, and its delivery to the cabin: `advice_msg_id` is
    # the id of the `PatientAdvice` that carries the latest text (new at each change),
    # `advice_delivered_at` when the cabin acknowledged it.
    (
        "ALTER TABLE consultations ADD COLUMN advice TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE consultations ADD COLUMN advice_msg_id TEXT",
        "ALTER TABLE consultations ADD COLUMN advice_changed_at TEXT",
        "ALTER TABLE consultations ADD COLUMN advice_delivered_at TEXT",
        "CREATE UNIQUE INDEX consultations_by_advice_msg_id ON consultations(advice_msg_id)",
        "CREATE INDEX consultations_advice_undelivered ON consultations(advice_changed_at)"
        " WHERE advice_msg_id IS NOT NULL AND advice_delivered_at IS NULL",
    ),
    # 6: the cabins' records, indexed to build a patient's history from them: the patient's
    # match key and when the consultation began, as the record says. Records stored before are
    # indexed when the hub starts (NULL: not yet; '': unreadable).
    (
        "ALTER TABLE records ADD COLUMN match_key TEXT",
        "ALTER TABLE records ADD COLUMN started_at TEXT",
        "CREATE INDEX records_by_patient ON records(match_key, started_at)",
        "CREATE INDEX records_by_consultation ON records(consultation_id, received_at)",
    ),
    # 7: the patient a prescription is for, as signed with it (NULL: signed before that).
    ("ALTER TABLE prescriptions ADD COLUMN patient TEXT",),
    # 8: agents (nurses, town hall agents) who sign in like doctors and see the alerts of their
    # cabins (`cabins`: a JSON list of cabin ids; `all_cabins`: every cabin); a session now
    # says which kind of account it opens (`role`), so it no longer refers to `doctors` (the
    # table is rebuilt: SQLite cannot drop a constraint); the cabins' alerts and how each was
    # handled; the audit log names the alert an entry is about.
    (
        """CREATE TABLE agents (
            username TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            display_name TEXT NOT NULL,
            cabins TEXT NOT NULL,
            all_cabins INTEGER NOT NULL DEFAULT 0,
            failed_attempts INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE sessions_v8 (
            token_sha256 TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            role TEXT NOT NULL DEFAULT 'doctor' CHECK (role IN ('doctor', 'agent')),
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        "INSERT INTO sessions_v8 (token_sha256, username, role, csrf_token, created_at,"
        " expires_at) SELECT token_sha256, username, 'doctor', csrf_token, created_at,"
        " expires_at FROM sessions",
        "DROP TABLE sessions",
        "ALTER TABLE sessions_v8 RENAME TO sessions",
        "CREATE INDEX sessions_by_expiry ON sessions(expires_at)",
        """CREATE TABLE alerts (
            alert_id TEXT PRIMARY KEY,
            cabin_id TEXT NOT NULL,
            cabin_name TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            confidence REAL NOT NULL,
            detail TEXT NOT NULL,
            consultation_id TEXT,
            raised_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            escalated_at TEXT,
            acknowledged_by TEXT,
            acknowledged_role TEXT
                CHECK (acknowledged_role IN ('agent', 'doctor', 'patient', 'cabin_agent')),
            acknowledged_at TEXT,
            false_alarm INTEGER
        )""",
        "CREATE INDEX alerts_open ON alerts(received_at) WHERE acknowledged_at IS NULL",
        "CREATE INDEX alerts_by_cabin ON alerts(cabin_id, received_at)",
        "ALTER TABLE audit_log ADD COLUMN alert_id TEXT",
        "CREATE INDEX audit_by_alert ON audit_log(alert_id) WHERE alert_id IS NOT NULL",
    ),
    # 9: a record's id is its cabin's: two cabins may use the same `record_id` without one
    # making the other's look like a duplicate (the table is rebuilt with the primary key
    # (cabin_id, record_id)). The patient's match key keeps every script now
    # (`hub.patients`): the records' keys are cleared, so that they are indexed again when the
    # hub starts, and every consultation is queued in `patient_rekey` to have its key
    # recomputed then (from the patient stored with it). `digest`: what a patient's history
    # shows of the record (no PDF), made when it is read on arrival or indexed, so that a
    # history never reads the Bundles.
    (
        """CREATE TABLE records_v9 (
            record_id TEXT NOT NULL,
            consultation_id TEXT NOT NULL,
            cabin_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            bundle BLOB NOT NULL,
            match_key TEXT,
            started_at TEXT,
            digest BLOB,
            PRIMARY KEY (cabin_id, record_id)
        )""",
        "INSERT INTO records_v9 (record_id, consultation_id, cabin_id, created_at, received_at,"
        " bundle, match_key, started_at) SELECT record_id, consultation_id, cabin_id,"
        " created_at, received_at, bundle, NULL, NULL FROM records",
        "DROP TABLE records",
        "ALTER TABLE records_v9 RENAME TO records",
        "CREATE INDEX records_by_patient ON records(match_key, started_at)",
        "CREATE INDEX records_by_consultation ON records(consultation_id, received_at)",
        "CREATE TABLE patient_rekey (consultation_id TEXT PRIMARY KEY)",
        "INSERT INTO patient_rekey (consultation_id) SELECT consultation_id FROM consultations",
    ),
    # 10: a cabin's repeated alerts of one kind merge into the open one (`merged_into`, its
    # `repeat_count` and `last_raised_at`); `cabin_raised_at` keeps a `raised_at` the hub did
    # not believe; the operator may clear a cabin's alerts (`acknowledged_role` 'operator': the
    # table is rebuilt, SQLite cannot change a constraint). The open alerts already stored are
    # merged likewise, into the oldest open one of their cabin, kind and severity.
    (
        """CREATE TABLE alerts_v10 (
            alert_id TEXT PRIMARY KEY,
            cabin_id TEXT NOT NULL,
            cabin_name TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            confidence REAL NOT NULL,
            detail TEXT NOT NULL,
            consultation_id TEXT,
            raised_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            escalated_at TEXT,
            acknowledged_by TEXT,
            acknowledged_role TEXT CHECK (
                acknowledged_role IN ('agent', 'doctor', 'patient', 'cabin_agent', 'operator')
            ),
            acknowledged_at TEXT,
            false_alarm INTEGER,
            repeat_count INTEGER NOT NULL DEFAULT 1,
            last_raised_at TEXT,
            merged_into TEXT,
            cabin_raised_at TEXT
        )""",
        "INSERT INTO alerts_v10 (alert_id, cabin_id, cabin_name, kind, severity, confidence,"
        " detail, consultation_id, raised_at, received_at, escalated_at, acknowledged_by,"
        " acknowledged_role, acknowledged_at, false_alarm) SELECT alert_id, cabin_id,"
        " cabin_name, kind, severity, confidence, detail, consultation_id, raised_at,"
        " received_at, escalated_at, acknowledged_by, acknowledged_role, acknowledged_at,"
        " false_alarm FROM alerts",
        "DROP TABLE alerts",
        "ALTER TABLE alerts_v10 RENAME TO alerts",
        "CREATE INDEX alerts_open ON alerts(received_at)"
        " WHERE acknowledged_at IS NULL AND merged_into IS NULL",
        "CREATE INDEX alerts_by_cabin ON alerts(cabin_id, received_at)",
        "CREATE INDEX alerts_merged ON alerts(merged_into) WHERE merged_into IS NOT NULL",
        """UPDATE alerts SET merged_into = (
            SELECT h.alert_id FROM alerts AS h
            WHERE h.cabin_id = alerts.cabin_id AND h.kind = alerts.kind
                AND h.severity = alerts.severity AND h.acknowledged_at IS NULL
            ORDER BY h.received_at, h.alert_id LIMIT 1
        ) WHERE acknowledged_at IS NULL""",
        "UPDATE alerts SET merged_into = NULL WHERE merged_into = alert_id",
        """UPDATE alerts SET
            repeat_count = 1 + (SELECT count(*) FROM alerts AS m
                WHERE m.merged_into = alerts.alert_id),
            last_raised_at = (SELECT max(m.raised_at) FROM alerts AS m
                WHERE m.merged_into = alerts.alert_id)
        WHERE acknowledged_at IS NULL AND merged_into IS NULL""",
    ),
    # 11: sign-in attempts per name and client address (the lockout), what an operator
    # decides of an account (disabled, TOTP), when a session was last used, and whose
    # account an audited action was done to.
    (
        """CREATE TABLE login_throttle (
            username TEXT NOT NULL,
            client TEXT NOT NULL,
            failures INTEGER NOT NULL,
            blocked_until TEXT,
            last_attempt_at TEXT NOT NULL,
            PRIMARY KEY (username, client)
        ) WITHOUT ROWID""",
        "CREATE INDEX login_throttle_by_age ON login_throttle(last_attempt_at)",
        """CREATE TABLE account_security (
            username TEXT PRIMARY KEY,
            disabled INTEGER NOT NULL DEFAULT 0,
            totp_required INTEGER NOT NULL DEFAULT 0,
            totp_secret TEXT,
            totp_pending_secret TEXT,
            totp_last_step INTEGER
        )""",
        "ALTER TABLE sessions ADD COLUMN last_seen_at TEXT",
        "CREATE INDEX sessions_by_username ON sessions(username, created_at)",
        "ALTER TABLE audit_log ADD COLUMN subject TEXT",
    ),
    # 12: booking (`hub.booking`, `hub.schedule`). The agents who take bookings by phone
    # (`coordinator`); each cabin's calendar, weekly opening hours (local wall-clock 'HH:MM')
    # and closures (ISO days, both ends included); the doctors' rota; the appointments, whose
    # slot is held by one appointment not cancelled and whose code by one active appointment
    # (unique partial indexes: the database refuses a double booking, never a check before the
    # insert); the outbox of their confirmations and reminders.
    (
        "ALTER TABLE agents ADD COLUMN coordinator INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE cabin_calendars (
            cabin_id TEXT PRIMARY KEY,
            town TEXT NOT NULL,
            timezone TEXT NOT NULL,
            slot_minutes INTEGER NOT NULL CHECK (slot_minutes > 0),
            walk_in_share REAL NOT NULL CHECK (walk_in_share >= 0 AND walk_in_share <= 1),
            bookable_days INTEGER NOT NULL CHECK (bookable_days >= 0)
        )""",
        """CREATE TABLE opening_hours (
            cabin_id TEXT NOT NULL,
            weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
            opens TEXT NOT NULL,
            closes TEXT NOT NULL,
            PRIMARY KEY (cabin_id, weekday, opens)
        ) WITHOUT ROWID""",
        """CREATE TABLE closures (
            closure_id TEXT PRIMARY KEY,
            cabin_id TEXT NOT NULL,
            first_day TEXT NOT NULL,
            last_day TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE INDEX closures_by_cabin ON closures(cabin_id, last_day)",
        """CREATE TABLE rota_shifts (
            shift_id TEXT PRIMARY KEY,
            doctor TEXT NOT NULL,
            cabin_id TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            created_by TEXT NOT NULL DEFAULT '',
            created_at TEXT
        )""",
        "CREATE INDEX rota_by_cabin ON rota_shifts(cabin_id, starts_at)",
        "CREATE INDEX rota_by_doctor ON rota_shifts(doctor, starts_at)",
        "CREATE INDEX rota_by_end ON rota_shifts(ends_at)",
        """CREATE TABLE appointments (
            appointment_id TEXT PRIMARY KEY,
            cabin_id TEXT NOT NULL,
            doctor TEXT,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('booked', 'arrived', 'fulfilled', 'cancelled', 'noshow')),
            patient TEXT NOT NULL,
            match_key TEXT NOT NULL,
            code TEXT NOT NULL,
            booked_via TEXT NOT NULL CHECK (booked_via IN ('online', 'phone')),
            booked_at TEXT NOT NULL,
            booked_by TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '',
            email TEXT NOT NULL DEFAULT '',
            language TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            consent_at TEXT,
            cancelled_at TEXT,
            cancel_reason TEXT NOT NULL DEFAULT '',
            cancelled_by TEXT NOT NULL DEFAULT '',
            arrived_at TEXT,
            consultation_id TEXT,
            closed_at TEXT
        )""",
        "CREATE UNIQUE INDEX appointments_slot ON appointments(cabin_id, starts_at)"
        " WHERE status != 'cancelled'",
        "CREATE UNIQUE INDEX appointments_code ON appointments(code)"
        " WHERE status IN ('booked', 'arrived')",
        "CREATE INDEX appointments_by_start ON appointments(starts_at)",
        "CREATE INDEX appointments_by_patient ON appointments(match_key, starts_at)",
        """CREATE TABLE notifications (
            notification_id TEXT PRIMARY KEY,
            appointment_id TEXT NOT NULL REFERENCES appointments(appointment_id),
            medium TEXT NOT NULL CHECK (medium IN ('email', 'sms')),
            kind TEXT NOT NULL,
            due_at TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dropped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NOT NULL DEFAULT '',
            claimed_by TEXT NOT NULL DEFAULT '',
            claimed_until TEXT,
            sent_at TEXT
        )""",
        "CREATE INDEX notifications_due ON notifications(due_at)"
        " WHERE state IN ('pending', 'sending')",
        "CREATE INDEX notifications_by_appointment ON notifications(appointment_id)",
    ),
    # 13: the handover between the weekly doctors (`hub.handover`): what the author wrote
    # (items, cabins and recipients as JSON), who acknowledged it and when (the first
    # acknowledgement stands), and the patients flagged "to follow up" from a consultation.
    (
        """CREATE TABLE handovers (
            handover_id TEXT PRIMARY KEY,
            author TEXT NOT NULL REFERENCES doctors(username),
            cabin_ids TEXT NOT NULL,
            covers_from TEXT NOT NULL,
            covers_until TEXT NOT NULL,
            summary TEXT NOT NULL,
            items TEXT NOT NULL,
            recipients TEXT NOT NULL,
            written_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX handovers_by_time ON handovers(written_at)",
        """CREATE TABLE handover_reads (
            handover_id TEXT NOT NULL REFERENCES handovers(handover_id),
            reader TEXT NOT NULL,
            read_at TEXT NOT NULL,
            PRIMARY KEY (handover_id, reader)
        ) WITHOUT ROWID""",
        """CREATE TABLE followups (
            followup_id TEXT PRIMARY KEY,
            consultation_id TEXT NOT NULL REFERENCES consultations(consultation_id),
            cabin_id TEXT NOT NULL,
            note TEXT NOT NULL,
            flagged_by TEXT NOT NULL,
            flagged_at TEXT NOT NULL,
            cleared_by TEXT,
            cleared_at TEXT,
            clear_note TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX followups_open ON followups(cabin_id, flagged_at) WHERE cleared_at IS NULL",
        "CREATE INDEX followups_by_consultation ON followups(consultation_id)",
    ),
    # 14: the rota's overlaps refused by the database (a doctor covering one cabin twice at
    # once: two coordinators adding shifts at the same moment never both succeed), and the
    # operators' tokens for the export endpoint (only their SHA-256).
    (
        """CREATE TRIGGER rota_shifts_no_overlap_insert BEFORE INSERT ON rota_shifts
        WHEN EXISTS (
            SELECT 1 FROM rota_shifts AS other
            WHERE other.doctor = NEW.doctor AND other.cabin_id = NEW.cabin_id
            AND other.starts_at < NEW.ends_at AND other.ends_at > NEW.starts_at
        )
        BEGIN SELECT RAISE(ABORT, 'shift_overlap'); END""",
        """CREATE TRIGGER rota_shifts_no_overlap_update
        BEFORE UPDATE OF doctor, cabin_id, starts_at, ends_at ON rota_shifts
        WHEN EXISTS (
            SELECT 1 FROM rota_shifts AS other
            WHERE other.shift_id != OLD.shift_id
            AND other.doctor = NEW.doctor AND other.cabin_id = NEW.cabin_id
            AND other.starts_at < NEW.ends_at AND other.ends_at > NEW.starts_at
        )
        BEGIN SELECT RAISE(ABORT, 'shift_overlap'); END""",
        """CREATE TABLE operator_tokens (
            name TEXT PRIMARY KEY,
            token_sha256 TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        )""",
    ),
    # 15: the fleet (issue 18, `hub.fleet`): the operators who sign in to the fleet page (their
    # own table; usernames unique across doctors, agents and operators), so a session may be an
    # operator's (`sessions` rebuilt: SQLite cannot change a constraint); an alert the hub
    # resolved by itself (`acknowledged_role` 'hub': a cabin back online, a self-test passed
    # again; `alerts` rebuilt likewise); each cabin's last heartbeat and status, its self-test
    # reports (one row per report id: received once) and the latest quality sample of each of
    # its calls. None of it is health data.
    (
        """CREATE TABLE operators (
            username TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            display_name TEXT NOT NULL,
            failed_attempts INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE sessions_v15 (
            token_sha256 TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            role TEXT NOT NULL DEFAULT 'doctor' CHECK (role IN ('doctor', 'agent', 'operator')),
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            last_seen_at TEXT
        )""",
        "INSERT INTO sessions_v15 (token_sha256, username, role, csrf_token, created_at,"
        " expires_at, last_seen_at) SELECT token_sha256, username, role, csrf_token, created_at,"
        " expires_at, last_seen_at FROM sessions",
        "DROP TABLE sessions",
        "ALTER TABLE sessions_v15 RENAME TO sessions",
        "CREATE INDEX sessions_by_expiry ON sessions(expires_at)",
        "CREATE INDEX sessions_by_username ON sessions(username, created_at)",
        """CREATE TABLE alerts_v15 (
            alert_id TEXT PRIMARY KEY,
            cabin_id TEXT NOT NULL,
            cabin_name TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            confidence REAL NOT NULL,
            detail TEXT NOT NULL,
            consultation_id TEXT,
            raised_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            escalated_at TEXT,
            acknowledged_by TEXT,
            acknowledged_role TEXT CHECK (
                acknowledged_role IN
                    ('agent', 'doctor', 'patient', 'cabin_agent', 'operator', 'hub')
            ),
            acknowledged_at TEXT,
            false_alarm INTEGER,
            repeat_count INTEGER NOT NULL DEFAULT 1,
            last_raised_at TEXT,
            merged_into TEXT,
            cabin_raised_at TEXT
        )""",
        "INSERT INTO alerts_v15 SELECT alert_id, cabin_id, cabin_name, kind, severity,"
        " confidence, detail, consultation_id, raised_at, received_at, escalated_at,"
        " acknowledged_by, acknowledged_role, acknowledged_at, false_alarm, repeat_count,"
        " last_raised_at, merged_into, cabin_raised_at FROM alerts",
        "DROP TABLE alerts",
        "ALTER TABLE alerts_v15 RENAME TO alerts",
        "CREATE INDEX alerts_open ON alerts(received_at)"
        " WHERE acknowledged_at IS NULL AND merged_into IS NULL",
        "CREATE INDEX alerts_by_cabin ON alerts(cabin_id, received_at)",
        "CREATE INDEX alerts_merged ON alerts(merged_into) WHERE merged_into IS NOT NULL",
        """CREATE TABLE cabin_health (
            cabin_id TEXT PRIMARY KEY,
            last_seen_at TEXT,
            status TEXT,
            status_at TEXT
        )""",
        """CREATE TABLE cabin_selftests (
            cabin_id TEXT NOT NULL,
            report_id TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            report TEXT NOT NULL,
            PRIMARY KEY (cabin_id, report_id)
        )""",
        "CREATE INDEX cabin_selftests_latest ON cabin_selftests(cabin_id, finished_at)",
        """CREATE TABLE call_quality (
            cabin_id TEXT NOT NULL,
            consultation_id TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            final INTEGER NOT NULL,
            sample TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (cabin_id, consultation_id)
        )""",
        "CREATE INDEX call_quality_by_time ON call_quality(sent_at)",
        "CREATE INDEX consultations_by_cabin_time ON consultations(cabin_id, joined_at)",
    ),
)
