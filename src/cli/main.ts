// The operator command line: `npm run keyscope -- <command>`, with the server's environment.
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { connectDatabase } from '../db/connect.ts';
import { migrateToLatest } from '../db/migrate.ts';
import type { Db } from '../db/database.ts';
import { creditCommands } from '../credits/credits.cli.ts';
import { persistedOperationCommands } from '../persisted-operations/persisted-operations.cli.ts';

export type Command = (db: Db, args: string[], out: (line: string) => void) => Promise<void>;

const USAGE = `Usage: npm run keyscope -- <command>

  migrate                                   bring the database schema up to date
  credits grant --email <email> --amount <n> [--reason <text>]
                                            add credits to an account (a ledger entry)
  credits correct --email <email> --amount=<±n> --reason <text>
                                            correct a balance up or down (a new ledger entry)
  credits check                             prove every balance equals the sum of its ledger
  claim-code create --amount <n> [--max-redemptions <k>] [--expires <ISO date | days>]
                                            make a claim code (printed alone on the last line)
  persisted-operations register <file.json>
                                            register operations by SHA-256 (codegen's persisted-documents.json)
`;

async function migrate(db: Db, _args: string[], out: (line: string) => void): Promise<void> {
  const result = await migrateToLatest(db);
  const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
  out(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
}

export const commands: Record<string, Command> = { migrate, ...creditCommands, ...persistedOperationCommands };

export async function runCli(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const name = positionals.slice(0, 2).join(' ');
  const command = commands[name] ?? commands[positionals[0] ?? ''];
  if (!command) {
    process.stderr.write(USAGE);
    return 2;
  }
  const config = loadConfig();
  const database = connectDatabase(config.databaseUrl);
  try {
    await command(database.db, argv, out);
    return 0;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : 'failed'}\n`);
    return 1;
  } finally {
    await database.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  void runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
