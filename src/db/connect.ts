import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { type CompiledQuery, Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase as KyselySqliteDatabase, sql } from 'kysely';
import pg from 'pg';
import { SqliteCommitGroups, type UnitOfWork } from './commit-groups.ts';
import type { Database, Db } from './database.ts';
import { type ChannelHandlers, PgChannelListener } from './notifications.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  db: Db;
  dialect: Dialect;
  /** The PostgreSQL pool, for stores that need their own client (rate limits). */
  pgPool?: pg.Pool;
  /**
   * PostgreSQL: LISTEN on `channel` over a connection of its own, re-established when lost
   * (see db/notifications.ts); ended by close(). SQLite has one writer, this process: absent.
   */
  listen?(channel: string, handlers: ChannelHandlers): void;
  /**
   * SQLite: runs a read at once on a kept statement, without Kysely's asynchronous pipeline,
   * and answers its rows; undefined while a transaction is open on the (single) connection,
   * so that nothing uncommitted is ever read: the caller then goes through Kysely, which
   * waits its turn. PostgreSQL: absent.
   */
  readNow?<R>(query: CompiledQuery<R>): R[] | undefined;
  /**
   * SQLite: a number that changes whenever the database may have changed since it was last
   * read: at every statement that writes on this connection, and when another connection (the
   * operator command line, say) has committed, which is checked once per turn of the event
   * loop (`PRAGMA data_version`). A value read at one version is still the database's while
   * the version stays the same. PostgreSQL: absent.
   */
  version?(): number;
  /**
   * Runs `work` as one transaction: all of it or none. On SQLite, units that arrive while a
   * group is open share its COMMIT (db/commit-groups.ts), each in a savepoint of its own; on
   * PostgreSQL, a transaction of its own. For the write paths that run on every request.
   */
  transaction<T>(work: UnitOfWork<T>): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

// int8 (bigint, COUNT) comes back from pg as a string; every such value here is a count,
// a timestamp in ms or a credit amount, all far below 2^53.
const INT8_OID = 20;
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

const CACHED_STATEMENTS = 500;

/**
 * better-sqlite3 as Kysely sees it, with prepared statements kept by SQL text. Kysely
 * prepares every query anew, and on the hot paths (a key look-up, a balance) preparing
 * costs more than running. SQLite recompiles a kept statement by itself if the schema
 * changes; one that is busy (an iteration still open) is not shared: a fresh one replaces it.
 */
function withStatementCache(
  sqlite: SqliteDatabase.Database,
  onWrite: () => void,
): KyselySqliteDatabase & { prepare(text: string): SqliteDatabase.Statement } {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    // Kysely prepares every statement right before it runs it: a statement that may write is
    // about to change the database.
    prepare(text) {
      const kept = statements.get(text);
      if (kept && !kept.readonly) onWrite();
      if (kept && !kept.busy) return kept;
      const statement = sqlite.prepare(text);
      if (!kept && !statement.readonly) onWrite();
      if (!kept && statements.size >= CACHED_STATEMENTS) {
        const oldest = statements.keys().next().value;
        if (oldest !== undefined) statements.delete(oldest);
      }
      statements.set(text, statement);
      return statement;
    },
  };
}

export interface ConnectOptions {
  /** PostgreSQL schema to use (tests give each file its own). */
  pgSchema?: string;
  pgPoolSize?: number;
}

export function connectDatabase(url: string, options: ConnectOptions = {}): DatabaseHandle {
  if (url.startsWith('file:')) {
    const file = url.slice('file:'.length);
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const sqlite = new SqliteDatabase(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    let version = 0;
    const statements = withStatementCache(sqlite, () => {
      version += 1;
    });
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: statements }) });
    const groups = new SqliteCommitGroups(db, sqlite);
    const dataVersion = sqlite.prepare('pragma data_version').pluck();
    let othersCommitted: unknown;
    let checkedThisTurn = false;
    const nextTurn = () => {
      checkedThisTurn = false;
    };
    return {
      db,
      dialect: 'sqlite',
      transaction: (work) => groups.run(work),
      readNow<R>(query: CompiledQuery<R>): R[] | undefined {
        if (sqlite.inTransaction) return undefined;
        return statements.prepare(query.sql).all(query.parameters) as R[];
      },
      version() {
        if (!checkedThisTurn) {
          checkedThisTurn = true;
          setImmediate(nextTurn);
          const seen = dataVersion.get();
          if (seen !== othersCommitted) {
            othersCommitted = seen;
            version += 1;
          }
        }
        return version;
      },
      async ping() {
        try {
          sqlite.prepare('select 1').get();
          return true;
        } catch {
          return false;
        }
      },
      async close() {
        await db.destroy();
      },
    };
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.pgPoolSize ?? 10,
    types: pgTypes,
    ...(options.pgSchema ? { options: `-c search_path=${options.pgSchema}` } : {}),
  });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const listeners: PgChannelListener[] = [];
  return {
    db,
    dialect: 'postgres',
    pgPool: pool,
    transaction: (work) => db.transaction().execute(work),
    listen(channel, handlers) {
      const listener = new PgChannelListener({ connectionString: url }, channel, handlers);
      listeners.push(listener);
      listener.start();
    },
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.all(listeners.map((l) => l.close()));
      await db.destroy();
    },
  };
}
