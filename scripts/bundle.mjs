// The server as `npm start` runs it: src/main.ts and everything it imports, the libraries
// included, bundled by esbuild into one ES module, dist/main.mjs. Started from TypeScript
// through tsx, Node resolves and instantiates about 1,500 modules through tsx's loader
// (2.4–3.5 s to /health on this project's 2-core machines); the bundle is one file to parse
// (0.6–0.9 s). Plain JavaScript, so that starting needs no TypeScript loader at all.
//
//   node scripts/bundle.mjs       # build dist/main.mjs (also `npm run build`, and on `npm install`)
//
// Left outside the bundle, loaded from node_modules as they are: the native addons
// (better-sqlite3, @node-rs/argon2, pg's optional pg-native), and two packages Keyscope
// imports only when needed: GraphiQL's 9 MB of assets (first GraphiQL page) and nodemailer
// (first mail).
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const SERVER_ENTRY = path.join(ROOT, 'src/main.ts');
export const SERVER_BUNDLE = path.join(ROOT, 'dist/main.mjs');
const EXTERNAL = ['better-sqlite3', '@node-rs/argon2', 'pg-native', '@graphql-yoga/render-graphiql', 'nodemailer'];
/** npm rewrites this on every install; package files keep their tarballs' fixed mtime, so it is what says the libraries changed. */
const INSTALLED = path.join(ROOT, 'node_modules/.package-lock.json');

/** Beside a bundle: when its build began and the files it was built from (what `isBundleCurrent` checks). @param {string} outfile */
const inputsFile = (outfile) => `${outfile}.inputs.json`;

/**
 * Builds `entry` into `outfile` (an ES module, with a source map beside it). The bundle is
 * written under a temporary name and renamed into place, so a process starting meanwhile
 * loads the old bundle or the new one, never half of one.
 * @param {{ entry?: string, outfile?: string }} [options]
 */
export async function buildBundle({ entry = SERVER_ENTRY, outfile = SERVER_BUNDLE } = {}) {
  // Inputs are compared with the moment the build began: an edit made while esbuild runs
  // leaves the new bundle stale, as it should.
  const startedAt = Date.now();
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    // Libraries' ES module builds where they ship one ("module" before "main", and a sibling
    // .mjs before .js for a deep import such as graphql/language/parser): graphql as one copy
    // of its ES modules instead of its CommonJS build behind esbuild's interop getters, which
    // every use of a graphql export went through.
    mainFields: ['module', 'main'],
    resolveExtensions: ['.ts', '.mjs', '.js', '.json'],
    // keepNames wraps every function expression in a call that defines its name, closures made
    // per request included, and cost scenario 2 of the benchmark about a third more CPU per
    // request. Nothing here depends on a renamed class's name (logs give `error.name`, which
    // Error subclasses inherit; graphql and graphql-shield check instanceof first).
    keepNames: false,
    // Not loaded when serving; the benchmark's profile summary reads it to name source files.
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    // The libraries' CommonJS modules call require(); an ES module has none of its own.
    banner: { js: 'import { createRequire as __keyscopeCreateRequire } from "node:module"; const require = __keyscopeCreateRequire(import.meta.url);' },
  });
  mkdirSync(path.dirname(outfile), { recursive: true });
  const inputs = Object.keys(result.metafile.inputs).map((file) => path.resolve(file));
  const temporary = `${outfile}.${process.pid}.tmp`;
  try {
    for (const output of result.outputFiles) {
      if (output.path !== outfile) writeFileSync(output.path, output.contents);
    }
    const bundle = result.outputFiles.find((output) => output.path === outfile);
    if (!bundle) throw new Error(`esbuild wrote no ${outfile}`);
    writeFileSync(temporary, bundle.contents);
    renameSync(temporary, outfile);
    // The record last: interrupted before it, the new bundle is judged by the old record,
    // which finds it stale (rebuilt once more), never a stale bundle current.
    writeFileSync(temporary, JSON.stringify({ startedAt, inputs }));
    renameSync(temporary, inputsFile(outfile));
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** @param {string} file */
const mtimeMs = (file) => statSync(file, { throwIfNoEntry: false })?.mtimeMs;

/**
 * Whether `outfile` exists and no file it was built from changed since its build began (nor
 * the install: `npm install` since). A missing input (a file deleted or moved) makes it stale.
 * @param {string} [outfile]
 */
export function isBundleCurrent(outfile = SERVER_BUNDLE) {
  if (mtimeMs(outfile) === undefined) return false;
  /** @type {{ startedAt: number, inputs: string[] }} */
  let record;
  try {
    record = JSON.parse(readFileSync(inputsFile(outfile), 'utf8'));
  } catch {
    return false;
  }
  if (typeof record.startedAt !== 'number' || !Array.isArray(record.inputs)) return false;
  for (const file of [...record.inputs, INSTALLED]) {
    const changed = mtimeMs(file);
    if (changed === undefined ? file !== INSTALLED : changed >= record.startedAt) return false;
  }
  return true;
}

/** Builds the bundle unless it is current; true when it built. @param {{ entry?: string, outfile?: string }} [options] */
export async function ensureBundle(options = {}) {
  if (isBundleCurrent(options.outfile)) return false;
  await buildBundle(options);
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  await buildBundle();
  process.stdout.write(`built ${path.relative(process.cwd(), SERVER_BUNDLE)} in ${Math.round(performance.now() - started)} ms\n`);
}
