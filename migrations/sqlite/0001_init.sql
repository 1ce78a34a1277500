-- kb-sso on SQLite: the project, the audit log with its checkpoint, and
-- the notification outbox. Times are nanoseconds since the Unix epoch.

-- Marks the file as kb-sso's ('kbss'), so that opening another
-- application's database is refused before anything is written to it.
PRAGMA application_id = 1801614195;

-- The project as one JSON document and its revision (one row).
CREATE TABLE kb_sso_project (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL CHECK (revision >= 1),
    doc TEXT NOT NULL
);

-- One row per audit entry (the whole entry as JSON); `at` and `action`
-- are copies for queries.
CREATE TABLE kb_sso_audit_entry (
    seq INTEGER PRIMARY KEY CHECK (seq >= 0),
    at INTEGER NOT NULL,
    action TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX kb_sso_audit_entry_at ON kb_sso_audit_entry (at);

-- The signed checkpoint, kept apart from the entries (one row). Every
-- append and purge locks and renews it.
CREATE TABLE kb_sso_audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checkpoint TEXT NOT NULL
);

-- The notification outbox. `due_at` is when a claim may take the entry
-- (NULL once sent); ids are never reused.
CREATE TABLE kb_sso_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at INTEGER
);
CREATE INDEX kb_sso_outbox_due ON kb_sso_outbox (due_at, id) WHERE due_at IS NOT NULL;
