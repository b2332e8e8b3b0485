"""The database schema, as an ordered list of migrations.

Migration *n* brings the schema from ``user_version`` n-1 to n. Each runs in one transaction with
the version bump, so a crash leaves the schema at one version or the next, never between. Never
edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the first schema.
    (
        """CREATE TABLE patients (
            id TEXT PRIMARY KEY,
            family_name TEXT NOT NULL,
            given_names TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            sex TEXT NOT NULL,
            appointment_code TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE consultations (
            id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL REFERENCES patients(id),
            language TEXT NOT NULL,
            started_at TEXT NOT NULL,
            consent_at TEXT,
            ended_at TEXT,
            end_reason TEXT,
            doctor_id TEXT,
            notes TEXT
        )""",
        "CREATE INDEX consultations_by_patient ON consultations(patient_id, started_at)",
        """CREATE TABLE readings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            consultation_id TEXT NOT NULL REFERENCES consultations(id),
            device_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            measured_at TEXT NOT NULL,
            stored_at TEXT NOT NULL
        )""",
        "CREATE INDEX readings_by_consultation ON readings(consultation_id, id)",
        """CREATE TABLE reading_values (
            reading_id INTEGER NOT NULL REFERENCES readings(id) ON DELETE CASCADE,
            quantity TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (reading_id, quantity)
        ) WITHOUT ROWID""",
        """CREATE TABLE prescriptions (
            id TEXT PRIMARY KEY,
            consultation_id TEXT NOT NULL REFERENCES consultations(id),
            issued_at TEXT NOT NULL,
            doctor_id TEXT NOT NULL,
            payload BLOB NOT NULL,
            signature TEXT,
            printed_at TEXT,
            print_attempts INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            acked_at TEXT
        )""",
        "CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE acked_at IS NULL",
        """CREATE TABLE device_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            device_id TEXT NOT NULL,
            event TEXT NOT NULL,
            detail TEXT
        )""",
        """CREATE TABLE paper_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            by_whom TEXT NOT NULL,
            event TEXT NOT NULL,
            sheets_left INTEGER
        )""",
        """CREATE TABLE cleaning_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            by_whom TEXT NOT NULL,
            consultation_id TEXT,
            note TEXT
        )""",
        """CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            raised_at TEXT NOT NULL,
            confidence REAL NOT NULL,
            consultation_id TEXT,
            acknowledged_at TEXT,
            acknowledged_by TEXT,
            false_alarm INTEGER,
            escalated_at TEXT
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT
        )""",
    ),
    # 2: readings carry the instrument's own judgement: a quality and the flags it reported.
    (
        "ALTER TABLE readings ADD COLUMN quality TEXT NOT NULL DEFAULT 'good'",
        "ALTER TABLE readings ADD COLUMN flags TEXT NOT NULL DEFAULT ''",
    ),
    # 3: the paper log counts sheets: how many a refill put in, how many a print job took.
    (
        "ALTER TABLE paper_log ADD COLUMN pages INTEGER",
        "CREATE INDEX paper_log_by_event ON paper_log(event, id)",
    ),
    # 4: a BLE instrument the agent paired in the assistant mode, in place of the configured one.
    (
        """CREATE TABLE device_addresses (
            device_id TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            paired_at TEXT NOT NULL
        )""",
    ),
    # 5: what the consultation record needs (the reason, the doctor, the advice), and the print
    # jobs: each document waits here, encrypted, until the printer has printed it.
    (
        "ALTER TABLE consultations ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE consultations ADD COLUMN doctor_info BLOB",
        "ALTER TABLE consultations ADD COLUMN advice TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE print_jobs (
            id TEXT PRIMARY KEY,
            consultation_id TEXT NOT NULL REFERENCES consultations(id),
            document TEXT NOT NULL,
            ref TEXT,
            title TEXT NOT NULL,
            payload BLOB,
            state TEXT NOT NULL,
            problem TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            pages INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            printed_at TEXT
        )""",
        "CREATE UNIQUE INDEX print_jobs_once ON print_jobs(consultation_id, document, ref)",
        "CREATE INDEX print_jobs_waiting ON print_jobs(state) WHERE state != 'printed'",
    ),
    # 6: appointments. The one a patient confirmed with its code goes with their consultation
    # (its record carries it); the hub's list of today's appointments is kept to check codes
    # while the hub cannot be reached: codes hashed, replaced at each sync, gone after the day.
    (
        "ALTER TABLE consultations ADD COLUMN appointment_id TEXT",
        "ALTER TABLE consultations ADD COLUMN appointment_starts_at TEXT",
        "ALTER TABLE consultations ADD COLUMN appointment_ends_at TEXT",
        "ALTER TABLE consultations ADD COLUMN appointment_doctor TEXT",
        "ALTER TABLE consultations ADD COLUMN appointment_doctor_name TEXT",
        """CREATE TABLE todays_appointments (
            appointment_id TEXT PRIMARY KEY,
            day TEXT NOT NULL,
            timezone TEXT NOT NULL,
            code_salt BLOB NOT NULL,
            code_hash BLOB NOT NULL,
            code_iterations INTEGER NOT NULL,
            family_name TEXT NOT NULL,
            given_names TEXT NOT NULL,
            birth_date TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            doctor TEXT,
            doctor_name TEXT,
            used_at TEXT
        )""",
    ),
    # 7: keeping a cabin working (issue 18). The self-tests' reports, kept and sent to the hub
    # (``sent_at`` once it acknowledged); and a few facts of the cabin that must outlive a
    # restart, by key (the assistant's PIN lockout, when the cabin last had the hub).
    (
        """CREATE TABLE selftest_reports (
            report_id TEXT PRIMARY KEY,
            trigger TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            results TEXT NOT NULL,
            failed INTEGER NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX selftest_reports_by_time ON selftest_reports(started_at)",
        """CREATE TABLE cabin_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
