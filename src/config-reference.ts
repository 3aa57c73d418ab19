// `npm run docs:config`: prints README's configuration reference, a markdown table made from
// `configVariables` in config.ts. `npm run docs:config -- --write` puts it into README.md
// between <!-- config:start --> and <!-- config:end -->; a test fails when the two differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { configVariables } from './config.ts';

export const CONFIG_START = '<!-- config:start -->';
export const CONFIG_END = '<!-- config:end -->';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A default that is a literal value is shown as code; an explanation ("(none)", "1 in production…") as text. */
function defaultCell(value: string): string {
  return /^[^\s(]+$/.test(value) ? `\`${cell(value)}\`` : cell(value);
}

export function configReferenceMarkdown(): string {
  const rows = configVariables.map((v) => `| \`${v.name}\` | ${defaultCell(v.default)} | ${cell(v.description)} |`);
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** The text between the markers, or null when README.md has no such section. */
export function readmeConfigSection(readme: string): string | null {
  const start = readme.indexOf(CONFIG_START);
  const end = readme.indexOf(CONFIG_END);
  if (start < 0 || end < start) return null;
  return readme.slice(start + CONFIG_START.length, end).trim();
}

/** The README with its configuration section replaced by the current table. */
export function withConfigSection(readme: string): string {
  if (readmeConfigSection(readme) === null) throw new Error(`README.md has no ${CONFIG_START} … ${CONFIG_END} section`);
  const start = readme.indexOf(CONFIG_START) + CONFIG_START.length;
  return `${readme.slice(0, start)}\n${configReferenceMarkdown()}\n${readme.slice(readme.indexOf(CONFIG_END))}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--write')) {
    const file = new URL('../README.md', import.meta.url);
    writeFileSync(file, withConfigSection(readFileSync(file, 'utf8')));
    process.stdout.write('README.md configuration reference written\n');
  } else {
    process.stdout.write(`${configReferenceMarkdown()}\n`);
  }
}
