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
    # n: sign-in attempts per name and client address (the lockout), what an operator
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
)
