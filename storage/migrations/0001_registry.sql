-- Providers, models, per-model config sections, credentials and the event log.
CREATE TABLE providers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    sdk_id        TEXT NOT NULL UNIQUE,
    base_url      TEXT,
    api_key_enc   BLOB,
    api_key_hint  TEXT,
    image_url     TEXT,
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE models (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL CHECK (type IN ('chat', 'image', 'speech', 'embedding')),
    provider_id     TEXT REFERENCES providers(id) ON DELETE RESTRICT,
    sdk_id          TEXT,
    context_length  INTEGER,
    enabled         INTEGER NOT NULL DEFAULT 1,
    is_default      INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'stopped'
                    CHECK (status IN ('stopped', 'starting', 'running', 'stopping', 'error')),
    ctx_size        INTEGER,
    batch_size      INTEGER,
    threads         INTEGER,
    model_path      TEXT,
    model_url       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX models_provider_sdk ON models(provider_id, sdk_id);
-- At most one default per model type, enforced by the database itself.
CREATE UNIQUE INDEX models_one_default_per_type ON models(type) WHERE is_default = 1;
CREATE INDEX models_by_provider ON models(provider_id);

CREATE TABLE model_configs (
    model_id    TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    section     TEXT NOT NULL
                CHECK (section IN ('sampling', 'memory', 'gpu', 'advanced', 'lora', 'multimodal')),
    config      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (model_id, section)
);

CREATE TABLE credentials (
    provider     TEXT PRIMARY KEY,
    token_enc    BLOB NOT NULL,
    cookies_enc  BLOB,
    expires_at   INTEGER,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

-- The transactional outbox: AUTOINCREMENT keeps seq monotonic and never reused,
-- even after old rows are pruned.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event       TEXT NOT NULL,
    topic       TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Small facts about the database itself (e.g. whether first-start seeding ran).
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
