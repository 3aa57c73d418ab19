// Keyscope as `npm start` runs it (createApp + node:http, the heap growth limit, background
// flushes and workers), bound to loopback, on the database the benchmark prepared: a SQLite
// file, or a PostgreSQL schema of its own (BENCH_PG_SCHEMA) that the benchmark already migrated.
// bench/run.ts starts it with `npm start`'s Node flags (package.json).
import { createServer } from 'node:http';
import { createApp, limitHeapGrowth } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { connectDatabase } from '../../src/db/connect.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { setLogging } from '../../src/http/logger.ts';
import { startWorkers } from '../../src/workers.ts';

const FLUSH_INTERVAL_MS = 30_000;

limitHeapGrowth();
const config = loadConfig();
setLogging(true);
const pgSchema = process.env.BENCH_PG_SCHEMA;
const database = connectDatabase(config.databaseUrl, pgSchema ? { pgSchema } : {});
if (database.dialect === 'sqlite') await migrateToLatest(database.db);
const app = createApp({ config, database });
const workers = startWorkers(app.deps);
const flushTimer = setInterval(() => {
  app.flush().catch(() => {});
}, FLUSH_INTERVAL_MS);

const server = createServer(app.yoga);
server.keepAliveTimeout = 5_000;
server.listen(config.port, '127.0.0.1');

process.on('SIGTERM', () => {
  clearInterval(flushTimer);
  server.close();
  server.closeAllConnections();
  void (async () => {
    await workers.stop();
    await app.flush();
    await database.close();
    process.exit(0);
  })();
});
