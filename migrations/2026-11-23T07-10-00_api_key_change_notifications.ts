// Frozen in time: this file never imports application code.
// PostgreSQL only: every change to a key that its verification depends on, and every change
// to one of its secrets, is announced with NOTIFY keyscope_api_keys, '<key id>' when its
// transaction commits, so that every instance can evict the key from its verification cache.
// A trigger, not application code, so that no write path (CLI, a later feature, manual SQL)
// can forget it. The columns written by batched usage flushes and by workers (last_used_at,
// last_used_ip, expiring_notified_at, updated_at alone) do not count as changes.
// SQLite has a single writer, the server process, which evicts by itself: nothing to do.
import { type Kysely, PostgresAdapter, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against no particular schema
type AnyDb = Kysely<any>;

const isPostgres = (db: AnyDb) => db.getExecutor().adapter instanceof PostgresAdapter;

export async function up(db: AnyDb): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`
    create or replace function keyscope_announce_api_key_change() returns trigger language plpgsql as $$
    declare
      changed_key text;
    begin
      if tg_table_name = 'api_keys' then
        if tg_op = 'DELETE' then
          changed_key := old.id;
        elsif (to_jsonb(old) - 'last_used_at' - 'last_used_ip' - 'expiring_notified_at' - 'updated_at')
            is distinct from (to_jsonb(new) - 'last_used_at' - 'last_used_ip' - 'expiring_notified_at' - 'updated_at') then
          changed_key := new.id;
        end if;
      elsif tg_op = 'DELETE' then
        changed_key := old.key_id;
      else
        changed_key := new.key_id;
      end if;
      if changed_key is not null then
        perform pg_notify('keyscope_api_keys', changed_key);
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`create trigger api_keys_announce_change after update or delete on api_keys
    for each row execute function keyscope_announce_api_key_change()`.execute(db);
  await sql`create trigger api_key_secrets_announce_change after update or delete on api_key_secrets
    for each row execute function keyscope_announce_api_key_change()`.execute(db);
}

export async function down(db: AnyDb): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`drop trigger if exists api_key_secrets_announce_change on api_key_secrets`.execute(db);
  await sql`drop trigger if exists api_keys_announce_change on api_keys`.execute(db);
  await sql`drop function if exists keyscope_announce_api_key_change()`.execute(db);
}
