// Operator command, registered in src/cli/main.ts:
//   persisted-operations register <file.json>
// The file is GraphQL Code Generator's persisted-documents.json (client preset with
// `persistedDocuments`) or an Apollo persisted query manifest.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Db } from '../db/database.ts';
import { systemClock } from '../deps.ts';
import { ManifestError, readManifest, registerPersistedOperations } from './persisted-operations.service.ts';

type Out = (line: string) => void;

export const persistedOperationCommands = {
  async 'persisted-operations register'(db: Db, args: string[], out: Out): Promise<void> {
    const { positionals } = parseArgs({ args, allowPositionals: true, strict: true });
    const file = positionals[2];
    if (!file || positionals.length > 3) throw new ManifestError('Usage: persisted-operations register <file.json>');
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ManifestError(`Cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const result = await registerPersistedOperations({ db, clock: systemClock }, readManifest(json));
    for (const { hash, operationName } of result.added) out(`added ${hash} ${operationName ?? '(anonymous)'}`);
    out(`registered ${result.added.length} new operation(s); ${result.alreadyRegistered} already registered`);
  },
};
