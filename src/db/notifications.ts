// LISTEN on a PostgreSQL channel, from a connection of its own (a pooled connection cannot
// hold a LISTEN), re-established after a loss. Whoever caches on the strength of these
// notifications is told when they start (`onListening`) and when they may have been missed
// (`onLost`: the connection failed, ended, or did not answer a heartbeat in time).
import pg from 'pg';

export interface ChannelHandlers {
  /** LISTEN is in place: from now on every change is announced. */
  onListening(): void;
  onMessage(payload: string): void;
  /** The connection is gone: changes may go unannounced until the next onListening. */
  onLost(): void;
}

const RETRY_DELAYS_MS = [100, 500, 2_000, 10_000];
const HEARTBEAT_MS = 5_000;
const QUERY_TIMEOUT_MS = 3_000;

export class PgChannelListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #handlers: ChannelHandlers;
  #client: pg.Client | null = null;
  #closed = false;
  #attempt = 0;
  #retry: NodeJS.Timeout | null = null;
  #heartbeat: NodeJS.Timeout | null = null;

  constructor(config: pg.ClientConfig, channel: string, handlers: ChannelHandlers) {
    this.#config = config;
    this.#channel = channel;
    this.#handlers = handlers;
  }

  start(): void {
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ keepAlive: true, query_timeout: QUERY_TIMEOUT_MS, application_name: 'keyscope-listener', ...this.#config });
    this.#client = client;
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (message.channel === this.#channel && message.payload) this.#handlers.onMessage(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.#channel)}`);
    } catch {
      if (client === this.#client) this.#lost(client);
      else client.end().catch(() => {});
      return;
    }
    // Closed while connecting.
    if (client !== this.#client) {
      client.end().catch(() => {});
      return;
    }
    this.#attempt = 0;
    this.#heartbeat = setInterval(() => {
      client.query('select 1').catch(() => this.#lost(client));
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
    this.#handlers.onListening();
  }

  #lost(client: pg.Client): void {
    if (client !== this.#client) return;
    this.#client = null;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    this.#handlers.onLost();
    client.end().catch(() => {});
    if (this.#closed) return;
    const delay = RETRY_DELAYS_MS[Math.min(this.#attempt, RETRY_DELAYS_MS.length - 1)];
    this.#attempt += 1;
    this.#retry = setTimeout(() => void this.#connect(), delay);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    const client = this.#client;
    this.#client = null;
    if (client) await client.end().catch(() => {});
  }
}
