-- kb-sso on PostgreSQL: the project, the audit log with its checkpoint,
-- and the notification outbox. Times are nanoseconds since the Unix epoch.

-- The project as one JSON document and its revision (one row).
CREATE TABLE kb_sso_project (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL CHECK (revision >= 1),
    doc TEXT NOT NULL
);

-- One row per audit entry (the whole entry as JSON); `at` and `action`
-- are copies for queries.
CREATE TABLE kb_sso_audit_entry (
    seq BIGINT PRIMARY KEY CHECK (seq >= 0),
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX kb_sso_audit_entry_at ON kb_sso_audit_entry (at);

-- The signed checkpoint, kept apart from the entries (one row). Every
-- append and purge locks it (FOR UPDATE) and renews it.
CREATE TABLE kb_sso_audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checkpoint TEXT NOT NULL
);

-- The notification outbox. `due_at` is when a claim may take the entry
-- (NULL once sent); ids are never reused.
CREATE TABLE kb_sso_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at BIGINT
);
CREATE INDEX kb_sso_outbox_due ON kb_sso_outbox (due_at, id) WHERE due_at IS NOT NULL;
