// Process entry: configuration, database, migrations (SQLite), HTTP server, background
// flushes, and a graceful shutdown on SIGTERM/SIGINT.
import { createServer } from 'node:http';
import { createApp, limitHeapGrowth } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { connectDatabase } from './db/connect.ts';
import { migrateToLatest } from './db/migrate.ts';
import { logEvent, setLogging } from './http/logger.ts';
import { startWorkers } from './workers.ts';

const FLUSH_INTERVAL_MS = 30_000;
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  limitHeapGrowth();
  const config = loadConfig();
  setLogging(true);
  const database = connectDatabase(config.databaseUrl);
  // The embedded default migrates itself; PostgreSQL deployments migrate explicitly
  // (`npm run keyscope -- migrate`) unless they opt in the same way.
  if (database.dialect === 'sqlite' || config.migrateOnStart) await migrateToLatest(database.db);
  const app = createApp({ config, database });
  const workers = startWorkers(app.deps);

  const flushTimer = setInterval(() => {
    app.flush().catch((error: unknown) => logEvent('flush_failed', { error: error instanceof Error ? error.name : 'unknown' }));
  }, FLUSH_INTERVAL_MS);
  flushTimer.unref();

  const server = createServer(app.yoga);
  server.keepAliveTimeout = 5_000;
  server.listen({ port: config.port, ...(config.host ? { host: config.host } : {}) }, () => {
    logEvent('listening', { port: config.port, ...(config.host ? { host: config.host } : {}), database: database.dialect, env: config.env });
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logEvent('shutting_down', { signal });
    clearInterval(flushTimer);
    const forced = setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS);
    forced.unref();
    // Stop accepting; in-flight requests finish; idle keep-alive sockets are closed.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await workers.stop();
    await app.flush();
    await database.close();
    logEvent('stopped', {});
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : 'unknown';
  process.stderr.write(`keyscope failed to start: ${message}\n`);
  process.exit(1);
});
