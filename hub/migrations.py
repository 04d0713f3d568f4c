"""The home store's schema, as numbered migrations applied in order and recorded in ``PRAGMA user_version``."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: records, links, runs, queues, activity.
    """
    CREATE TABLE records (
        id TEXT PRIMARY KEY,
        entity TEXT NOT NULL,
        name_key TEXT NOT NULL DEFAULT '',
        fields TEXT NOT NULL,              -- JSON: field -> value
        field_modified TEXT NOT NULL,      -- JSON: field -> ISO time it last changed
        provenance TEXT NOT NULL,          -- JSON: field -> {system, run, rule}
        hidden INTEGER NOT NULL DEFAULT 0,
        pending INTEGER NOT NULL DEFAULT 0,
        deleted_at TEXT,
        created_at TEXT NOT NULL,
        modified_at TEXT NOT NULL
    );
    CREATE INDEX records_by_name ON records (entity, name_key);
    CREATE INDEX records_by_modified ON records (entity, modified_at);

    CREATE TABLE links (
        id INTEGER PRIMARY KEY,
        connection TEXT NOT NULL,
        entity TEXT NOT NULL,
        home_id TEXT NOT NULL REFERENCES records (id),
        remote_id TEXT NOT NULL,
        link_key TEXT,
        how TEXT NOT NULL CHECK (how IN ('matched', 'manual', 'created')),
        remote_version TEXT,
        remote_hash TEXT,
        remote_snapshot TEXT NOT NULL DEFAULT '{}',   -- JSON: home field -> remote value, as last seen
        remote_changed TEXT NOT NULL DEFAULT '{}',    -- JSON: home field -> ISO time the remote value changed
        remote_modified TEXT,
        linked_at TEXT NOT NULL,
        last_synced_at TEXT,
        UNIQUE (connection, entity, remote_id),
        UNIQUE (connection, entity, home_id)
    );
    CREATE INDEX links_by_key ON links (connection, entity, link_key);

    CREATE TABLE unlinked_remote (
        connection TEXT NOT NULL,
        entity TEXT NOT NULL,
        remote_id TEXT NOT NULL,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        data TEXT NOT NULL,
        remote_modified TEXT,
        reason TEXT NOT NULL,
        candidates TEXT NOT NULL DEFAULT '[]',        -- JSON: home ids; several = the review queue
        seen_at TEXT NOT NULL,
        PRIMARY KEY (connection, entity, remote_id)
    );
    CREATE INDEX unlinked_by_name ON unlinked_remote (connection, entity, name_key);

    CREATE TABLE delinked (                -- pairs a person separated: never matched together again
        connection TEXT NOT NULL,
        entity TEXT NOT NULL,
        home_id TEXT NOT NULL,
        remote_id TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (connection, entity, home_id, remote_id)
    );

    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        connection TEXT NOT NULL,
        entities TEXT NOT NULL,            -- JSON list
        trigger TEXT NOT NULL,
        actor TEXT NOT NULL,
        scope TEXT NOT NULL,               -- JSON
        dry_run INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        counts TEXT NOT NULL DEFAULT '{}',
        started_at TEXT NOT NULL,
        ended_at TEXT,
        heartbeat_at TEXT NOT NULL
    );
    CREATE INDEX runs_running ON runs (connection, status);

    CREATE TABLE run_items (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        entity TEXT NOT NULL,
        home_id TEXT,
        remote_id TEXT,
        name TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        reason TEXT NOT NULL,
        changes TEXT NOT NULL DEFAULT '[]',  -- JSON: [{field, direction, rule, before, after}]
        error TEXT
    );
    CREATE INDEX run_items_by_run ON run_items (run_id);

    CREATE TABLE cursors (
        connection TEXT NOT NULL,
        entity TEXT NOT NULL,
        watermark TEXT,
        page_token TEXT,
        run_id INTEGER,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (connection, entity)
    );

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        connection TEXT NOT NULL,
        entity TEXT NOT NULL,
        home_id TEXT NOT NULL,
        op TEXT NOT NULL,
        fields TEXT NOT NULL DEFAULT '[]',
        actor TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX outbox_by_connection ON outbox (connection, id);

    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,
        connection TEXT NOT NULL,
        event_key TEXT NOT NULL,
        entity TEXT NOT NULL,
        remote_id TEXT NOT NULL,
        action TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        claimed_at TEXT,
        finished_at TEXT,
        last_error TEXT,
        UNIQUE (connection, event_key)
    );
    CREATE INDEX inbox_due ON inbox (status, next_attempt_at);

    CREATE TABLE activity (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        connection TEXT,
        kind TEXT NOT NULL,
        message TEXT NOT NULL
    );

    CREATE TABLE connection_state (
        connection TEXT PRIMARY KEY,
        paused_until TEXT,
        pause_reason TEXT,
        reauth_required TEXT,
        tokens TEXT
    );
    """,
    # 2. When each connection last listed each entity type: a queued new record is not created before its type
    # was listed once, or it could duplicate a remote record the hub has not seen.
    """
    ALTER TABLE cursors ADD COLUMN listed_at TEXT;
    """,
    # 3. A connection an admin disconnected: who and when. No sync runs until it is connected again.
    """
    ALTER TABLE connection_state ADD COLUMN disconnected_at TEXT;
    ALTER TABLE connection_state ADD COLUMN disconnected_by TEXT;
    """,
    # 4. A queued change to a remote record whose link is gone: a home record deleted where the contract deactivates
    # its remote copy (on_home_delete). The entry names the remote record, and the version the hub last saw of it.
    """
    ALTER TABLE outbox ADD COLUMN remote_id TEXT;
    ALTER TABLE outbox ADD COLUMN remote_version TEXT;
    """,
)
