// `npm start` runs a bundle (scripts/bundle.mjs), rebuilt when what it was built from changed:
// a source file edited or deleted. A bundle that is stale must never be taken for current.
import { mkdtempSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_BUNDLE, buildBundle, ensureBundle, isBundleCurrent } from '../../scripts/bundle.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'keyscope-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entry = path.join(dir, 'entry.ts');
const dependency = path.join(dir, 'value.ts');
const outfile = path.join(dir, 'out', 'entry.mjs');
let loads = 0;
const load = async () => ((await import(`${pathToFileURL(outfile).href}?${++loads}`)) as { answer: number }).answer;

/** Dates a file `seconds` ago, so that "changed after the build" never hinges on a clock tick. */
function age(file: string, seconds: number): void {
  const at = new Date(Date.now() - seconds * 1000);
  utimesSync(file, at, at);
}

describe('the server bundle', () => {
  it('is current after a build, stale after an edit or a deletion, and rebuilt by ensureBundle', async () => {
    writeFileSync(dependency, 'export const value: number = 1;\n');
    writeFileSync(entry, "import { value } from './value.ts';\nexport const answer = value * 10;\n");
    age(dependency, 60);
    age(entry, 60);
    expect(isBundleCurrent(outfile)).toBe(false);
    await buildBundle({ entry, outfile });
    expect(isBundleCurrent(outfile)).toBe(true);
    expect(await load()).toBe(10);
    expect(await ensureBundle({ entry, outfile })).toBe(false);

    // The dependency is edited after the build.
    writeFileSync(dependency, 'export const value: number = 2;\n');
    expect(isBundleCurrent(outfile)).toBe(false);
    expect(await ensureBundle({ entry, outfile })).toBe(true);
    expect(isBundleCurrent(outfile)).toBe(true);
    expect(await load()).toBe(20);

    unlinkSync(dependency);
    expect(isBundleCurrent(outfile)).toBe(false);
  });

  it('holds one copy of graphql, its ES modules (built by vitest global setup)', () => {
    const { inputs } = JSON.parse(readFileSync(`${SERVER_BUNDLE}.inputs.json`, 'utf8')) as { inputs: string[] };
    const graphql = inputs.filter((file) => file.includes(`${path.sep}node_modules${path.sep}graphql${path.sep}`));
    expect(graphql.length).toBeGreaterThan(100);
    // A CommonJS graphql module beside the ES ones would be a second copy (instanceof across
    // the two fails), and every use of an export would go through esbuild's interop getters.
    expect(graphql.filter((file) => !file.endsWith('.mjs'))).toEqual([]);
  });
});
