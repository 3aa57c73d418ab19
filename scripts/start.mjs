// `npm start`: the server from dist/main.mjs (see bundle.mjs), rebuilt first when a source
// file or an installed library changed since it was built. One process: no loader, no npm
// lifecycle step between the check and the server.
import { pathToFileURL } from 'node:url';
import { SERVER_BUNDLE, ensureBundle } from './bundle.mjs';

if (await ensureBundle()) process.stderr.write('keyscope: sources changed since the last build; rebuilt dist/main.mjs\n');
await import(pathToFileURL(SERVER_BUNDLE).href);
