"""The PostgreSQL schema, as an ordered list of migrations, and how they are applied.

Migration *n* brings the schema from version n-1 to n (table ``schema_version``, one row). Each
runs in one transaction with the version bump, under an advisory lock, so that two replicas
starting at once migrate once, and a migration that fails half-way leaves nothing of itself. A
database at a version newer than this hub knows is refused: replicas of different versions
never share a schema one of them does not know. Never edit a migration that has shipped: add
the next one.

Columns of type ``bytea`` named as in `hub.postgres_storage.SEALED` hold values sealed by the
hub (`hub.sealing`); ``patient_index`` columns hold blind indexes of the patients' match keys.
Text that is sorted (ids, usernames) is ``COLLATE "C"``: byte order, as SQLite sorts it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hub.errors import StorageError

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6875625F736368
"""The advisory lock the migrations run under ("hub_sch")."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the schema of SQLite's migration 11, with health data sealed.
    (
        """CREATE TABLE doctors (
            username text COLLATE "C" PRIMARY KEY,
            password_hash text NOT NULL,
            display_name text NOT NULL,
            specialty text NOT NULL,
            registration_number text,
            photo bytea,
            failed_attempts integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            created_at timestamptz NOT NULL,
            address text NOT NULL DEFAULT '',
            phone text NOT NULL DEFAULT '',
            email text NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE agents (
            username text COLLATE "C" PRIMARY KEY,
            password_hash text NOT NULL,
            display_name text NOT NULL,
            cabins text[] NOT NULL,
            all_cabins boolean NOT NULL DEFAULT false,
            failed_attempts integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            created_at timestamptz NOT NULL
        )""",
        """CREATE TABLE sessions (
            seq bigserial,
            token_sha256 text PRIMARY KEY,
            username text COLLATE "C" NOT NULL,
            role text NOT NULL DEFAULT 'doctor' CHECK (role IN ('doctor', 'agent')),
            csrf_token text NOT NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            last_seen_at timestamptz
        )""",
        "CREATE INDEX sessions_by_expiry ON sessions (expires_at)",
        "CREATE INDEX sessions_by_username ON sessions (username, created_at)",
        """CREATE TABLE login_throttle (
            username text NOT NULL,
            client text NOT NULL,
            failures integer NOT NULL,
            blocked_until timestamptz,
            last_attempt_at timestamptz NOT NULL,
            PRIMARY KEY (username, client)
        )""",
        "CREATE INDEX login_throttle_by_age ON login_throttle (last_attempt_at)",
        """CREATE TABLE account_security (
            username text PRIMARY KEY,
            disabled boolean NOT NULL DEFAULT false,
            totp_required boolean NOT NULL DEFAULT false,
            totp_secret bytea,
            totp_pending_secret bytea,
            totp_last_step bigint
        )""",
        """CREATE TABLE cabins (
            cabin_id text COLLATE "C" PRIMARY KEY,
            name text NOT NULL,
            token_sha256 text NOT NULL,
            provisioned_at timestamptz NOT NULL
        )""",
        """CREATE TABLE consultations (
            consultation_id text COLLATE "C" PRIMARY KEY,
            cabin_id text COLLATE "C" NOT NULL,
            patient bytea NOT NULL,
            match_key bytea NOT NULL,
            patient_index text NOT NULL,
            reason bytea NOT NULL,
            age_years bytea NOT NULL,
            sex bytea NOT NULL,
            language text NOT NULL,
            status text NOT NULL CHECK (status IN ('waiting', 'taken', 'ended', 'left')),
            doctor text COLLATE "C" REFERENCES doctors (username),
            joined_at timestamptz NOT NULL,
            taken_at timestamptz,
            ended_at timestamptz,
            notes bytea NOT NULL,
            advice bytea NOT NULL,
            advice_msg_id text UNIQUE,
            advice_changed_at timestamptz,
            advice_delivered_at timestamptz
        )""",
        "CREATE INDEX consultations_by_patient ON consultations (patient_index, joined_at)",
        "CREATE INDEX consultations_active ON consultations (joined_at)"
        " WHERE status IN ('waiting', 'taken')",
        "CREATE INDEX consultations_advice_undelivered ON consultations (advice_changed_at)"
        " WHERE advice_msg_id IS NOT NULL AND advice_delivered_at IS NULL",
        "CREATE TABLE patient_rekey (consultation_id text PRIMARY KEY)",
        """CREATE TABLE readings (
            id bigserial PRIMARY KEY,
            consultation_id text NOT NULL REFERENCES consultations (consultation_id),
            msg_id text NOT NULL,
            vital bytea NOT NULL,
            received_at timestamptz NOT NULL,
            UNIQUE (consultation_id, msg_id)
        )""",
        """CREATE TABLE prescriptions (
            prescription_id text COLLATE "C" PRIMARY KEY,
            consultation_id text NOT NULL REFERENCES consultations (consultation_id),
            doctor text NOT NULL REFERENCES doctors (username),
            issued_at timestamptz NOT NULL,
            prescriber text NOT NULL,
            lines bytea NOT NULL,
            key_id text NOT NULL,
            signature text NOT NULL,
            msg_id text NOT NULL UNIQUE,
            delivered_at timestamptz,
            check_url text,
            patient bytea
        )""",
        "CREATE INDEX prescriptions_by_consultation ON prescriptions (consultation_id)",
        "CREATE INDEX prescriptions_undelivered ON prescriptions (issued_at)"
        " WHERE delivered_at IS NULL",
        "CREATE TABLE prescription_sequences (year integer PRIMARY KEY, last integer NOT NULL)",
        """CREATE TABLE records (
            record_id text COLLATE "C" NOT NULL,
            consultation_id text NOT NULL,
            cabin_id text COLLATE "C" NOT NULL,
            created_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            bundle bytea NOT NULL,
            bundle_bytes integer NOT NULL,
            match_key bytea,
            patient_index text,
            started_at timestamptz,
            digest bytea,
            PRIMARY KEY (cabin_id, record_id)
        )""",
        # sealed: nothing to gain in compressing it, and `reseal` reads its first bytes only
        "ALTER TABLE records ALTER COLUMN bundle SET STORAGE EXTERNAL",
        "CREATE INDEX records_by_patient ON records (patient_index, started_at)",
        "CREATE INDEX records_by_consultation ON records (consultation_id, received_at)",
        "CREATE INDEX records_unindexed ON records (received_at) WHERE patient_index IS NULL",
        """CREATE TABLE alerts (
            alert_id text COLLATE "C" PRIMARY KEY,
            cabin_id text NOT NULL,
            cabin_name text NOT NULL DEFAULT '',
            kind text NOT NULL,
            severity text NOT NULL,
            confidence double precision NOT NULL,
            detail bytea NOT NULL,
            consultation_id text,
            raised_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            escalated_at timestamptz,
            acknowledged_by text,
            acknowledged_role text CHECK (
                acknowledged_role IN ('agent', 'doctor', 'patient', 'cabin_agent', 'operator')
            ),
            acknowledged_at timestamptz,
            false_alarm boolean,
            repeat_count integer NOT NULL DEFAULT 1,
            last_raised_at timestamptz,
            merged_into text,
            cabin_raised_at timestamptz
        )""",
        "CREATE INDEX alerts_open ON alerts (received_at)"
        " WHERE acknowledged_at IS NULL AND merged_into IS NULL",
        "CREATE INDEX alerts_by_cabin ON alerts (cabin_id, received_at)",
        "CREATE INDEX alerts_merged ON alerts (merged_into) WHERE merged_into IS NOT NULL",
        """CREATE TABLE audit_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL,
            actor_kind text NOT NULL,
            actor_id text NOT NULL,
            action text NOT NULL,
            consultation_id text,
            client_address text,
            alert_id text,
            subject text
        )""",
        "CREATE INDEX audit_by_consultation ON audit_log (consultation_id, id)",
        "CREATE INDEX audit_by_alert ON audit_log (alert_id) WHERE alert_id IS NOT NULL",
        # The data keys the database has seen: a value sealed with each (`key_check`), so that
        # a wrong ring is refused before anything is written; `retired_at`: no value uses the
        # key any more (it may leave the ring). The blind index key's fingerprint (key_id
        # 'index', `index_check`).
        """CREATE TABLE data_keys (
            key_id text PRIMARY KEY,
            key_check bytea,
            index_check text,
            added_at timestamptz NOT NULL DEFAULT now(),
            retired_at timestamptz
        )""",
    ),
    # 2: booking (SQLite's migration 12): the agents who take bookings by phone, the cabins'
    # calendars, opening hours (local wall-clock times) and closures, the doctors' rota, the
    # appointments and the outbox of their messages. An appointment's patient, contact, code
    # and reasons are sealed; it is found by the blind index of the patient's match key
    # (`patient_index`) or of its code (`code_index`). A slot is held by one appointment not
    # cancelled, a code by one active appointment: unique partial indexes, whose names the
    # storage maps to `SlotTaken` and `CodeTaken`. A notification's last error is sealed (a
    # mail server's answer may quote the address).
    (
        "ALTER TABLE agents ADD COLUMN coordinator boolean NOT NULL DEFAULT false",
        """CREATE TABLE cabin_calendars (
            cabin_id text COLLATE "C" PRIMARY KEY,
            town text NOT NULL,
            timezone text NOT NULL,
            slot_minutes integer NOT NULL CHECK (slot_minutes > 0),
            walk_in_share double precision NOT NULL CHECK (walk_in_share BETWEEN 0 AND 1),
            bookable_days integer NOT NULL CHECK (bookable_days >= 0)
        )""",
        """CREATE TABLE opening_hours (
            cabin_id text COLLATE "C" NOT NULL,
            weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
            opens time NOT NULL,
            closes time NOT NULL,
            PRIMARY KEY (cabin_id, weekday, opens)
        )""",
        """CREATE TABLE closures (
            closure_id text COLLATE "C" PRIMARY KEY,
            cabin_id text COLLATE "C" NOT NULL,
            first_day date NOT NULL,
            last_day date NOT NULL,
            reason text NOT NULL
        )""",
        "CREATE INDEX closures_by_cabin ON closures (cabin_id, last_day)",
        """CREATE TABLE rota_shifts (
            shift_id text COLLATE "C" PRIMARY KEY,
            doctor text COLLATE "C" NOT NULL,
            cabin_id text COLLATE "C" NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            created_by text NOT NULL DEFAULT '',
            created_at timestamptz
        )""",
        "CREATE INDEX rota_by_cabin ON rota_shifts (cabin_id, starts_at)",
        "CREATE INDEX rota_by_doctor ON rota_shifts (doctor, starts_at)",
        "CREATE INDEX rota_by_end ON rota_shifts (ends_at)",
        """CREATE TABLE appointments (
            appointment_id text COLLATE "C" PRIMARY KEY,
            cabin_id text COLLATE "C" NOT NULL,
            doctor text COLLATE "C",
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            status text NOT NULL
                CHECK (status IN ('booked', 'arrived', 'fulfilled', 'cancelled', 'noshow')),
            patient bytea NOT NULL,
            patient_index text NOT NULL,
            code bytea NOT NULL,
            code_index text NOT NULL,
            booked_via text NOT NULL CHECK (booked_via IN ('online', 'phone')),
            booked_at timestamptz NOT NULL,
            booked_by text NOT NULL DEFAULT '',
            phone bytea NOT NULL,
            email bytea NOT NULL,
            language text NOT NULL,
            reason bytea NOT NULL,
            consent_at timestamptz,
            cancelled_at timestamptz,
            cancel_reason bytea NOT NULL,
            cancelled_by text NOT NULL DEFAULT '',
            arrived_at timestamptz,
            consultation_id text,
            closed_at timestamptz
        )""",
        "CREATE UNIQUE INDEX appointments_slot ON appointments (cabin_id, starts_at)"
        " WHERE status <> 'cancelled'",
        "CREATE UNIQUE INDEX appointments_code ON appointments (code_index)"
        " WHERE status IN ('booked', 'arrived')",
        "CREATE INDEX appointments_by_start ON appointments (starts_at)",
        "CREATE INDEX appointments_by_patient ON appointments (patient_index, starts_at)",
        "CREATE INDEX appointments_booked ON appointments (starts_at) WHERE status = 'booked'",
        """CREATE TABLE notifications (
            notification_id text COLLATE "C" PRIMARY KEY,
            appointment_id text COLLATE "C" NOT NULL REFERENCES appointments (appointment_id),
            medium text NOT NULL CHECK (medium IN ('email', 'sms')),
            kind text NOT NULL,
            due_at timestamptz NOT NULL,
            state text NOT NULL
                CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dropped')),
            attempts integer NOT NULL DEFAULT 0,
            last_error bytea NOT NULL,
            claimed_by text NOT NULL DEFAULT '',
            claimed_until timestamptz,
            sent_at timestamptz
        )""",
        "CREATE INDEX notifications_due ON notifications (due_at)"
        " WHERE state IN ('pending', 'sending')",
        "CREATE INDEX notifications_by_appointment ON notifications (appointment_id)",
    ),
    # 3: the handover between the weekly doctors (`hub.handover`), as SQLite's migration 13:
    # the summary, the items and the notes sealed (`hub.postgres_handover.SEALED`).
    (
        """CREATE TABLE handovers (
            handover_id text COLLATE "C" PRIMARY KEY,
            author text COLLATE "C" NOT NULL REFERENCES doctors(username),
            cabin_ids text[] NOT NULL,
            covers_from timestamptz NOT NULL,
            covers_until timestamptz NOT NULL,
            summary bytea NOT NULL,
            items bytea NOT NULL,
            recipients text[] NOT NULL,
            written_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX handovers_by_time ON handovers (written_at)",
        """CREATE TABLE handover_reads (
            handover_id text COLLATE "C" NOT NULL REFERENCES handovers(handover_id),
            reader text COLLATE "C" NOT NULL,
            read_at timestamptz NOT NULL,
            PRIMARY KEY (handover_id, reader)
        )""",
        """CREATE TABLE followups (
            followup_id text COLLATE "C" PRIMARY KEY,
            consultation_id text COLLATE "C" NOT NULL
                REFERENCES consultations(consultation_id),
            cabin_id text COLLATE "C" NOT NULL,
            note bytea NOT NULL,
            flagged_by text COLLATE "C" NOT NULL,
            flagged_at timestamptz NOT NULL,
            cleared_by text COLLATE "C",
            cleared_at timestamptz,
            clear_note bytea NOT NULL
        )""",
        "CREATE INDEX followups_open ON followups (cabin_id, flagged_at) WHERE cleared_at IS NULL",
        "CREATE INDEX followups_by_consultation ON followups (consultation_id)",
    ),
    # 4: the operators' tokens for the export endpoint (SQLite's migration 14; only their
    # SHA-256). The rota's overlaps are refused by `PostgresBookings.add_shift`, which checks
    # and inserts under a per-doctor advisory lock, on any PostgreSQL: an exclusion constraint
    # would need the btree_gist extension; it is "trusted" since PostgreSQL 13 (a role with
    # CREATE on the database, as deploy/hub/README.md's owner role, may add it), but a hub
    # given a database it does not own, or a server without contrib, could not migrate.
    (
        """CREATE TABLE operator_tokens (
            name text COLLATE "C" PRIMARY KEY,
            token_sha256 text COLLATE "C" NOT NULL UNIQUE,
            created_at timestamptz NOT NULL
        )""",
    ),
    # 5: the fleet (issue 18, SQLite's migration 15): the operators who sign in to the fleet
    # page, whose sessions say so; an alert the hub resolved by itself (`acknowledged_role`
    # 'hub'); each cabin's last heartbeat and status, its self-test reports (once per report
    # id) and the latest quality sample of each of its calls. None of it is health data: in
    # the clear.
    (
        """CREATE TABLE operators (
            username text COLLATE "C" PRIMARY KEY,
            password_hash text NOT NULL,
            display_name text NOT NULL,
            failed_attempts integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            created_at timestamptz NOT NULL
        )""",
        "ALTER TABLE sessions DROP CONSTRAINT sessions_role_check",
        "ALTER TABLE sessions ADD CONSTRAINT sessions_role_check"
        " CHECK (role IN ('doctor', 'agent', 'operator'))",
        "ALTER TABLE alerts DROP CONSTRAINT alerts_acknowledged_role_check",
        "ALTER TABLE alerts ADD CONSTRAINT alerts_acknowledged_role_check CHECK ("
        " acknowledged_role IN ('agent', 'doctor', 'patient', 'cabin_agent', 'operator', 'hub'))",
        """CREATE TABLE cabin_health (
            cabin_id text COLLATE "C" PRIMARY KEY,
            last_seen_at timestamptz,
            status jsonb,
            status_at timestamptz
        )""",
        """CREATE TABLE cabin_selftests (
            cabin_id text COLLATE "C" NOT NULL,
            report_id text COLLATE "C" NOT NULL,
            finished_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            report jsonb NOT NULL,
            PRIMARY KEY (cabin_id, report_id)
        )""",
        "CREATE INDEX cabin_selftests_latest ON cabin_selftests (cabin_id, finished_at)",
        """CREATE TABLE call_quality (
            cabin_id text COLLATE "C" NOT NULL,
            consultation_id text COLLATE "C" NOT NULL,
            sent_at timestamptz NOT NULL,
            final boolean NOT NULL,
            sample jsonb NOT NULL,
            received_at timestamptz NOT NULL,
            PRIMARY KEY (cabin_id, consultation_id)
        )""",
        "CREATE INDEX call_quality_by_time ON call_quality (sent_at)",
        "CREATE INDEX consultations_by_cabin_time ON consultations (cabin_id, joined_at)",
    ),
)


async def schema_version(connection: Any) -> int:
    """The database's schema version (0: empty)."""
    exists = await connection.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    version = await connection.fetchval("SELECT max(version) FROM schema_version")
    return int(version or 0)


def refuse_newer(version: int, known: int) -> None:
    if version > known:
        raise StorageError(
            f"the database is at schema version {version}, newer than this hub knows ({known}):"
            " a newer hub uses it; run that version here too (replicas of different versions"
            " must not share a database), or restore a backup"
        )


async def migrate(connection: Any, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the schema up to date; the version reached. Each migration is one transaction
    (a failure rolls it back entirely and raises); refuses a newer database."""
    known = len(migrations)
    refuse_newer(await schema_version(connection), known)
    while True:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"
            )
            version = int(
                await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            )
            refuse_newer(version, known)
            if version == known:
                return version
            for statement in migrations[version]:
                await connection.execute(statement)
            await connection.execute("DELETE FROM schema_version")
            await connection.execute(
                "INSERT INTO schema_version (version) VALUES ($1)", version + 1
            )
        log.info("hub.storage_migrated backend=postgresql version=%d", version + 1)
