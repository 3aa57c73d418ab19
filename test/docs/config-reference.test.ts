// The configuration reference in README.md is generated from `configVariables` (npm run
// docs:config) and must match it; and every variable the server reads is in that list.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configVariables } from '../../src/config.ts';
import { CONFIG_END, CONFIG_START, configReferenceMarkdown, readmeConfigSection, withConfigSection } from '../../src/config-reference.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const section = readmeConfigSection(readme);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('configuration reference', () => {
  it.skipIf(section === null)(`README.md between ${CONFIG_START} and ${CONFIG_END} is the output of npm run docs:config`, () => {
    expect(section, 'README.md is stale: run `npm run docs:config -- --write`').toBe(configReferenceMarkdown());
  });

  it('documents every variable config.ts reads, and nothing else in src/ reads process.env', () => {
    const configSource = readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
    const read = new Set([...configSource.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
    expect([...read].sort()).toEqual(configVariables.map((v) => v.name).sort());
    const elsewhere = sourceFiles(path.join(ROOT, 'src'))
      .filter((file) => !file.endsWith(`${path.sep}config.ts`))
      .filter((file) => /process\.env\b/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(ROOT, file));
    expect(elsewhere).toEqual([]);
  });

  it('`--write` replaces only the text between the markers', () => {
    const before = `# Title\n\n${CONFIG_START}\nold table\n${CONFIG_END}\n\nAfter.\n`;
    const after = withConfigSection(before);
    expect(after).toBe(`# Title\n\n${CONFIG_START}\n${configReferenceMarkdown()}\n${CONFIG_END}\n\nAfter.\n`);
    expect(readmeConfigSection(after)).toBe(configReferenceMarkdown());
    expect(withConfigSection(after)).toBe(after);
  });

  it('prints one row per variable, with `|` escaped', () => {
    const lines = configReferenceMarkdown().split('\n');
    expect(lines.slice(0, 2)).toEqual(['| Variable | Default | Meaning |', '| --- | --- | --- |']);
    expect(lines).toHaveLength(configVariables.length + 2);
    for (const line of lines.slice(2)) expect(line.replace(/\\\|/g, '').split('|')).toHaveLength(5);
  });
});
