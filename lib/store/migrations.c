/*
 * migrations.c - the job store schema, one SQL script per version.
 *
 * Rules (docs/store.md):
 *   - Entry i takes the schema from version i to i + 1; ap_store_open()
 *     applies each missing entry in its own transaction and records it in
 *     schema_version in that same transaction, so a crash mid-migration
 *     leaves the previous version intact.
 *   - A released entry is never edited.  Add a new one instead.
 *   - Portable SQL only, so the PostgreSQL backend can run the same scripts
 *     with a handful of textual substitutions: INTEGER PRIMARY KEY becomes
 *     BIGINT GENERATED ALWAYS AS IDENTITY, INTEGER ids become BIGINT.  No
 *     SQLite-only syntax (no WITHOUT ROWID, no AUTOINCREMENT, no STRICT, no
 *     partial indexes), no column named with a reserved word (hence
 *     user_name, group_name), timestamps as ISO 8601 UTC text written by
 *     the library (timestamptz in PostgreSQL sorts the same way).
 *   - States, kinds, statuses and severities are stored as their stable
 *     lowercase names, not as C enum numbers, so the file stays readable
 *     and a renumbered enum cannot corrupt it.
 */
#include "store_int.h"

const char *const ap_store_migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE schema_version (\n"
	"  version INTEGER PRIMARY KEY,\n"
	"  applied TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE jobs (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('check', 'install')),\n"
	"  status TEXT NOT NULL CHECK (status IN ('running', 'done')),\n"
	"  created TEXT NOT NULL,\n"
	"  updated TEXT NOT NULL,\n"
	"  package TEXT,\n"
	"  package_version TEXT,\n"
	"  options_json TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE targets (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
	"  idx INTEGER NOT NULL,\n"
	"  spec TEXT NOT NULL,\n"
	"  user_name TEXT,\n"
	"  host TEXT NOT NULL,\n"
	"  port INTEGER NOT NULL,\n"
	"  os TEXT NOT NULL,\n"
	"  group_name TEXT,\n"
	"  vars_json TEXT NOT NULL,\n"
	"  state TEXT NOT NULL,\n"
	"  attempts INTEGER NOT NULL DEFAULT 0,\n"
	"  note TEXT,\n"
	"  result_os TEXT,\n"
	"  updated TEXT NOT NULL,\n"
	"  UNIQUE (job_id, idx)\n"
	");\n"
	"CREATE TABLE findings (\n"
	"  target_id INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,\n"
	"  seq INTEGER NOT NULL,\n"
	"  error_id INTEGER NOT NULL,\n"
	"  severity TEXT NOT NULL CHECK (severity IN ('error', 'warning', 'info')),\n"
	"  message TEXT,\n"
	"  evidence TEXT,\n"
	"  PRIMARY KEY (target_id, seq)\n"
	");\n"
	"CREATE TABLE events (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
	"  target_id INTEGER REFERENCES targets (id) ON DELETE CASCADE,\n"
	"  at TEXT NOT NULL,\n"
	"  what TEXT NOT NULL,\n"
	"  detail TEXT NOT NULL\n"
	");\n"
	"CREATE INDEX events_job ON events (job_id, id);\n"
	"CREATE INDEX events_target ON events (target_id, id);\n"
	"CREATE INDEX targets_job_state ON targets (job_id, state);\n",
	/* 1 -> 2: the configuration server (agentpush serve).  A durable
	 * cancel request on the job; the server's secret verifiers (hashes
	 * only, never a cleartext secret); the agents that registered. */
	"ALTER TABLE jobs ADD COLUMN cancel_requested TEXT;\n"
	"CREATE TABLE server_secrets (\n"
	"  name TEXT PRIMARY KEY,\n"
	"  value TEXT NOT NULL,\n"
	"  updated TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE agents (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  uid TEXT NOT NULL UNIQUE,\n"
	"  machine_id TEXT NOT NULL UNIQUE,\n"
	"  hostname TEXT NOT NULL,\n"
	"  os TEXT,\n"
	"  kernel TEXT,\n"
	"  version TEXT,\n"
	"  health TEXT,\n"
	"  address TEXT,\n"
	"  enrollment TEXT,\n"
	"  secret_hash TEXT NOT NULL,\n"
	"  registered TEXT NOT NULL,\n"
	"  last_heartbeat TEXT,\n"
	"  heartbeat_s INTEGER NOT NULL\n"
	");\n"
	"CREATE INDEX agents_enrollment ON agents (enrollment);\n",
	/* 2 -> 3: the credential vault (lib/vault/).  vault_keys: one row per
	 * key version, with what checks a key (an AEAD of nothing) and, for a
	 * passphrase, its Argon2id salt and limits; never the key.  accounts:
	 * the secret only as ciphertext (hex), sealed with the key of
	 * key_version; rejected_at/_by: a host refused its password (the
	 * lockout rule), cleared when the password changes. */
	"CREATE TABLE vault_keys (\n"
	"  version INTEGER PRIMARY KEY,\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('file', 'passphrase')),\n"
	"  salt TEXT,\n"
	"  opslimit INTEGER,\n"
	"  memlimit INTEGER,\n"
	"  key_check TEXT NOT NULL,\n"
	"  created TEXT NOT NULL\n"
	");\n"
	"CREATE TABLE accounts (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL UNIQUE,\n"
	"  user_name TEXT NOT NULL,\n"
	"  domain TEXT,\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('linux', 'windows')),\n"
	"  key_version INTEGER NOT NULL,\n"
	"  nonce TEXT NOT NULL,\n"
	"  secret TEXT NOT NULL,\n"
	"  created TEXT NOT NULL,\n"
	"  updated TEXT NOT NULL,\n"
	"  rejected_at TEXT,\n"
	"  rejected_by TEXT\n"
	");\n",
	/* 3 -> 4: workers sharing the store (store.h, "Workers").  A target's
	 * lease: its owner (a worker's unique name), its deadline in
	 * milliseconds since 1970 by the database's clock, and a generation
	 * that counts the claims.  cred_gate: the per-job credential gate
	 * (untried, trying under an owner until until_ms, good, rejected by
	 * host), so one refused password stops every worker. */
	"ALTER TABLE targets ADD COLUMN lease_owner TEXT;\n"
	"ALTER TABLE targets ADD COLUMN lease_until BIGINT;\n"
	"ALTER TABLE targets ADD COLUMN lease_gen BIGINT NOT NULL DEFAULT 0;\n"
	"CREATE INDEX jobs_status ON jobs (status, id);\n"
	"CREATE TABLE cred_gate (\n"
	"  job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,\n"
	"  cred_key TEXT NOT NULL,\n"
	"  state TEXT NOT NULL CHECK (state IN ('untried', 'trying', 'good', 'rejected')),\n"
	"  owner TEXT,\n"
	"  until_ms BIGINT,\n"
	"  host TEXT,\n"
	"  updated TEXT NOT NULL,\n"
	"  PRIMARY KEY (job_id, cred_key)\n"
	");\n",
};

const size_t ap_store_n_migrations =
	sizeof(ap_store_migrations) / sizeof(ap_store_migrations[0]);
