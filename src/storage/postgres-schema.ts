/**
 * PostgresStore's schema: a revision log with an index per key, a current-state index, one meta row, and the
 * write function that applies a batch of writes in one round trip (docs/design/datastores.md).
 *
 * Revisions are allocated under the meta row's lock (SELECT … FOR UPDATE), so write transactions commit in
 * revision order: any snapshot sees a gap-free prefix of the log, which is what lets a watcher tail it with
 * "revision > cursor" and never skip a revision committed late (the gap problem of sequence-allocated ids).
 */
export const SCHEMA_LOCK_ID = 0x6b656467; // 'kedg': serializes schema setup between servers starting together

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS kedge_meta (
  id int PRIMARY KEY CHECK (id = 1),
  revision bigint NOT NULL,
  compacted bigint NOT NULL
);
INSERT INTO kedge_meta VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS kedge_log (
  revision bigint PRIMARY KEY,
  key text COLLATE "C" NOT NULL,
  type smallint NOT NULL,            -- 0 create, 1 update, 2 delete (a delete keeps the last value)
  value text NOT NULL,
  create_revision bigint NOT NULL,
  prev_revision bigint NOT NULL      -- the key's previous log row (0 for a create)
);
CREATE INDEX IF NOT EXISTS kedge_log_key_revision ON kedge_log (key, revision);
CREATE TABLE IF NOT EXISTS kedge_kv (
  key text COLLATE "C" PRIMARY KEY,
  create_revision bigint NOT NULL,
  mod_revision bigint NOT NULL
);
CREATE OR REPLACE FUNCTION kedge_apply(ops jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  rev bigint;
  start_rev bigint;
  op jsonb;
  k text;
  expected bigint;
  cur record;
  results jsonb := '[]'::jsonb;
BEGIN
  SELECT revision INTO rev FROM kedge_meta WHERE id = 1 FOR UPDATE;
  start_rev := rev;
  FOR op IN SELECT * FROM jsonb_array_elements(ops) LOOP
    k := op->>'k';
    expected := (op->>'e')::bigint;
    SELECT kv.create_revision, kv.mod_revision, l.value INTO cur
      FROM kedge_kv kv JOIN kedge_log l ON l.revision = kv.mod_revision WHERE kv.key = k;
    IF op->>'t' = 'c' THEN
      IF FOUND THEN results := results || jsonb_build_object('err', 'exists'); CONTINUE; END IF;
      rev := rev + 1;
      INSERT INTO kedge_log VALUES (rev, k, 0, op->>'v', rev, 0);
      INSERT INTO kedge_kv VALUES (k, rev, rev);
      results := results || jsonb_build_object('r', rev);
    ELSE
      IF NOT FOUND THEN results := results || jsonb_build_object('err', 'notfound'); CONTINUE; END IF;
      IF expected IS NOT NULL AND expected <> cur.mod_revision THEN
        results := results || jsonb_build_object('err', 'conflict', 'a', cur.mod_revision); CONTINUE;
      END IF;
      rev := rev + 1;
      IF op->>'t' = 'u' THEN
        INSERT INTO kedge_log VALUES (rev, k, 1, op->>'v', cur.create_revision, cur.mod_revision);
        UPDATE kedge_kv SET mod_revision = rev WHERE key = k;
      ELSE
        INSERT INTO kedge_log VALUES (rev, k, 2, cur.value, cur.create_revision, cur.mod_revision);
        DELETE FROM kedge_kv WHERE key = k;
      END IF;
      results := results || jsonb_build_object('r', rev, 'c', cur.create_revision, 'p', cur.mod_revision, 'pv', cur.value);
    END IF;
  END LOOP;
  IF rev > start_rev THEN
    UPDATE kedge_meta SET revision = rev WHERE id = 1;
    -- Delivered at commit, to every server's LISTEN: their watchers read the new rows from the log.
    PERFORM pg_notify('kedge_log', rev::text);
  END IF;
  RETURN results;
END
$fn$;
`;

/** One write of a batch, as kedge_apply reads it. */
export interface ApplyOp {
  t: 'c' | 'u' | 'd';
  k: string;
  v?: string;
  e?: number;
}

/** kedge_apply's answer for one write. */
export interface ApplyResult {
  err?: 'exists' | 'notfound' | 'conflict';
  /** The write's revision. */
  r?: number;
  /** Conflict: the key's actual mod revision. */
  a?: number;
  /** Update/delete: the key's create revision, previous mod revision and previous value. */
  c?: number;
  p?: number;
  pv?: string;
}
