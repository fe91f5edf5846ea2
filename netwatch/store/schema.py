"""Schema migrations, applied by name so each capability can add its own tables."""

from __future__ import annotations

# (name, SQL). Applied in this order, once each, recorded in `migrations`. Append only; never edit a
# migration that has shipped — add a new one. Written in SQLite's dialect; store/postgres.py translates
# the types (INTEGER -> BIGINT, REAL -> DOUBLE PRECISION, BLOB -> BYTEA) for PostgreSQL.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001_core", """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            last_seen_at REAL NOT NULL,
            stopped_at REAL,
            version TEXT NOT NULL,
            pid INTEGER NOT NULL
        );
        CREATE TABLE results (
            check_id TEXT NOT NULL,
            ts REAL NOT NULL,
            duration_seconds REAL NOT NULL,
            ok INTEGER NOT NULL,
            degraded INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            latency_seconds REAL
        );
        CREATE INDEX results_check_ts ON results (check_id, ts);
        CREATE INDEX results_ts ON results (ts);
        -- One row per check per bucket: counts and a latency histogram (see store.rollup).
        CREATE TABLE rollups (
            check_id TEXT NOT NULL,
            bucket_start REAL NOT NULL,
            bucket_seconds REAL NOT NULL,
            count INTEGER NOT NULL,
            ok_count INTEGER NOT NULL,
            degraded_count INTEGER NOT NULL,
            latency_count INTEGER NOT NULL,
            latency_sum REAL NOT NULL,
            latency_max REAL NOT NULL,
            latency_hist TEXT NOT NULL,
            PRIMARY KEY (check_id, bucket_start)
        ) WITHOUT ROWID;
        -- Every change of health state. `since` is when it really began (the first failing
        -- result for a DOWN), `ts` when netwatch decided it.
        CREATE TABLE transitions (
            id INTEGER PRIMARY KEY,
            check_id TEXT NOT NULL,
            target_id TEXT NOT NULL,
            ts REAL NOT NULL,
            since REAL NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            error TEXT,
            detail TEXT,
            cause TEXT,
            run_id INTEGER
        );
        CREATE INDEX transitions_check_ts ON transitions (check_id, ts);
        CREATE INDEX transitions_ts ON transitions (ts);
        -- Things worth recording that are not state changes: reboots, traps, drift, defacement.
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            check_id TEXT,
            target_id TEXT,
            kind TEXT NOT NULL,
            summary TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_ts ON events (ts);
        CREATE INDEX events_kind_ts ON events (kind, ts);
    """),
    # Paging (netwatch.alerting / netwatch.notify): incidents, the durable outbox that commits with
    # each transition, maintenance windows and acks written by the CLI, and the operators' audit log.
    ("0002_paging", """
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            source TEXT NOT NULL,
            check_id TEXT,
            target_id TEXT,
            zone TEXT NOT NULL DEFAULT '',
            severity TEXT NOT NULL,
            category TEXT NOT NULL,
            state TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            error TEXT,
            detail TEXT NOT NULL DEFAULT '',
            since REAL NOT NULL,
            opened_at REAL NOT NULL,
            resolved_at REAL,
            acked_at REAL,
            acked_by TEXT,
            ack_note TEXT,
            dependants INTEGER NOT NULL DEFAULT 0,
            notify TEXT,
            level INTEGER NOT NULL DEFAULT 0,
            next_escalation_at REAL,
            next_remind_at REAL,
            transition_id INTEGER
        );
        CREATE INDEX incidents_state ON incidents (state);
        CREATE INDEX incidents_key ON incidents (key, state);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            incident_id INTEGER,
            channel TEXT NOT NULL,
            kind TEXT NOT NULL,
            created_at REAL NOT NULL,
            due_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'pending',
            sent_at REAL,
            sent_via TEXT,
            last_error TEXT,
            dedup_key TEXT NOT NULL,
            facts TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX outbox_pending ON outbox (state, channel, id);
        CREATE INDEX outbox_incident ON outbox (incident_id);
        CREATE TABLE maintenance (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            start TEXT NOT NULL,
            "end" TEXT NOT NULL,  -- quoted: END is reserved in PostgreSQL (same column on SQLite)
            repeat TEXT NOT NULL DEFAULT 'none',
            until TEXT,
            targets TEXT NOT NULL DEFAULT '[]',
            zones TEXT NOT NULL DEFAULT '[]',
            checks TEXT NOT NULL DEFAULT '[]',
            reason TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            cancelled_at REAL
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            who TEXT NOT NULL,
            action TEXT NOT NULL,
            what TEXT NOT NULL,
            source TEXT NOT NULL
        );
        CREATE INDEX audit_ts ON audit (ts);
    """),
    # SSH config backup (netwatch.configbackup): every distinct masked configuration per target,
    # and freezes whose version is the baseline later versions are compared with (NULL: lifted).
    ("0003_configbackup", """
        CREATE TABLE config_versions (
            id INTEGER PRIMARY KEY,
            target_id TEXT NOT NULL,
            ts REAL NOT NULL,
            last_seen_at REAL NOT NULL,
            sha256 TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX config_versions_target ON config_versions (target_id, id);
        CREATE TABLE config_freezes (
            id INTEGER PRIMARY KEY,
            target_id TEXT NOT NULL,
            ts REAL NOT NULL,
            version_id INTEGER REFERENCES config_versions (id),
            reason TEXT NOT NULL,
            phase_id TEXT,
            phase_start REAL
        );
        CREATE INDEX config_freezes_target ON config_freezes (target_id, id);
    """),
    # Approved web pages for defacement checks (netwatch.egov.baselines): the page as fetched,
    # zlib-compressed, and its fingerprints keyed by the selector profile they were made with.
    ("0004_egov", """
        CREATE TABLE baselines (
            target_id TEXT NOT NULL,
            url TEXT NOT NULL,
            taken_at REAL NOT NULL,
            approved_by TEXT,
            body BLOB NOT NULL,
            content_type TEXT,
            fingerprints TEXT NOT NULL,
            PRIMARY KEY (target_id, url)
        );
    """),
    # Pages held back while a parent is suspect (netwatch.alerting.decide): a row per check, written in
    # the transaction of its DOWN transition, so a restart holds it again. The backfill adopts what the
    # daemon kept in memory before this table existed: a latest transition down without an incident.
    ("0005_held_pages", """
        CREATE TABLE held_pages (
            check_id TEXT PRIMARY KEY,
            transition_id INTEGER NOT NULL,
            deadline REAL NOT NULL,
            flapping INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO held_pages (check_id, transition_id, deadline, flapping)
            SELECT t.check_id, t.id, t.ts, 0 FROM transitions t
            JOIN (SELECT check_id, MAX(id) AS id FROM transitions GROUP BY check_id) m ON t.id = m.id
            WHERE t.to_state = 'down' AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.source = 'check'
                AND i.check_id = t.check_id AND (i.transition_id = t.id OR i.state IN ('open', 'acked')));
    """),
    # One incident per target fault (netwatch.alerting.incidents): the checks folded into an open incident,
    # how each came in (named it, grouped within the first page's wait, or joined later), when each
    # recovered, and its place among its target's checks (ties in which check names the fault). The backfill makes every open incident its own check's member and folds several open
    # incidents of one target into the oldest (the others close, noted), so one is open per target.
    ("0006_incident_checks", """
        CREATE TABLE incident_checks (
            incident_id INTEGER NOT NULL,
            check_id TEXT NOT NULL,
            how TEXT NOT NULL,
            joined_at REAL NOT NULL,
            state TEXT NOT NULL,
            category TEXT NOT NULL DEFAULT '',
            error TEXT,
            detail TEXT NOT NULL DEFAULT '',
            recovered_at REAL,
            position INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (incident_id, check_id)
        );
        CREATE INDEX incident_checks_check ON incident_checks (check_id);
        INSERT INTO incident_checks (incident_id, check_id, how, joined_at, state, category, error, detail)
            SELECT COALESCE((SELECT MIN(j.id) FROM incidents j WHERE j.source = 'check'
                                 AND j.state IN ('open', 'acked') AND j.target_id = i.target_id), i.id),
                   i.check_id, 'named', i.opened_at, CASE WHEN i.severity = 'warning' THEN 'degraded' ELSE 'down' END,
                   i.category, i.error, i.detail
            FROM incidents i WHERE i.source = 'check' AND i.state IN ('open', 'acked') AND i.check_id IS NOT NULL;
        UPDATE incident_checks SET how = 'joined' WHERE NOT EXISTS (SELECT 1 FROM incidents i
            WHERE i.id = incident_checks.incident_id AND i.check_id = incident_checks.check_id);
        UPDATE incidents SET state = 'resolved', resolved_at = opened_at,
                ack_note = COALESCE(ack_note, 'folded into the open incident of its target')
            WHERE source = 'check' AND state IN ('open', 'acked') AND id > (SELECT MIN(j.id) FROM incidents j
                WHERE j.source = 'check' AND j.state IN ('open', 'acked') AND j.target_id = incidents.target_id);
    """),
    # Cluster mode: results a node probed while cut off from PostgreSQL, uploaded afterwards from its
    # local spool (netwatch.store.spool). They fill history and reports; nothing decides on them.
    ("0007_late_results", """
        ALTER TABLE results ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
    """),
    # Reboot notices already paged (netwatch.store.outbox.claim_reboot): a reboot's moment claims a cell on
    # each of two grids offset by half a cell; the primary key refuses a second sighting of the same reboot
    # from another cluster node (the poll on a slot owner, the trap on the coordinator) or after a restart.
    ("0008_reboots_paged", """
        CREATE TABLE reboots_paged (
            target_id TEXT NOT NULL,
            grid INTEGER NOT NULL,
            cell INTEGER NOT NULL,
            booted_at REAL NOT NULL,
            paged_at REAL NOT NULL,
            PRIMARY KEY (target_id, grid, cell)
        );
    """),
    # No product query reads raw results of one check (history, board and reports read the live view and
    # rollups; pruning goes by time), yet an index on (check_id, ts) put every result on a page of its own
    # check: once a store holds an hour of thousands of checks, each stored result dirtied one more random
    # page, written to the WAL and again at its checkpoint. Measured (5,000 checks, 1.5 M results stored, 500
    # a transaction): 26 us of writer CPU per result with it, 10 us without (issue 18, bench/README.md).
    ("0009_results_without_check_index", """
        DROP INDEX IF EXISTS results_check_ts;
    """),
    # SQLite's daemon adds its results to the rollups in a pass a minute (Store.defer_rollups): every result with
    # a rowid at or below through_rowid is in the rollups. One row (id 0), written by the store at first use;
    # unused on PostgreSQL, whose results have no rowid (each batch adds its own rollups there).
    ("0010_rollup_mark", """
        CREATE TABLE rollup_mark (
            id INTEGER NOT NULL PRIMARY KEY,
            through_rowid INTEGER NOT NULL
        );
    """),
)
