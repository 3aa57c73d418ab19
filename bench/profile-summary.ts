// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time by
// function, and self and inclusive time by area (a package under node_modules, a file
// of ours, node's internals, GC). Inclusive time counts a sample once per area on its stack.
// Frames in a bundle (dist/main.mjs, see scripts/bundle.mjs) are named by the source file and
// line its source map gives.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileLine {
  name: string;
  selfPct: number;
  inclusivePct?: number;
}

export interface ProfileSummary {
  file: string;
  samples: number;
  /** Share of samples in which the process was busy (not idle). */
  busyPct: number;
  topFunctions: ProfileLine[];
  areas: ProfileLine[];
}

export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules?.[1]) return modules[1];
  const ours = /\/(src|bench)\/(.+?)(\?.*)?$/.exec(url);
  if (ours?.[2]) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return 'node:internal';
  return url;
}

type Frame = ProfileNode['callFrame'];

/** Maps frames of bundled code back to their sources, one source map per bundle (read once). */
class SourceMaps {
  #maps = new Map<string, { map: SourceMap; dir: string } | null>();

  original(frame: Frame): Frame {
    if (!frame.url.startsWith('file://')) return frame;
    const bundle = this.#mapOf(frame.url);
    if (!bundle) return frame;
    const entry = bundle.map.findEntry(frame.lineNumber, frame.columnNumber);
    if (!('originalSource' in entry)) return frame;
    const source = path.resolve(bundle.dir, entry.originalSource.replace(/^file:\/\//, ''));
    return { ...frame, url: `file://${source}`, lineNumber: entry.originalLine, columnNumber: entry.originalColumn };
  }

  #mapOf(url: string): { map: SourceMap; dir: string } | null {
    let found = this.#maps.get(url);
    if (found !== undefined) return found;
    const file = `${fileURLToPath(url)}.map`;
    found = existsSync(file) ? { map: new SourceMap(JSON.parse(readFileSync(file, 'utf8'))), dir: path.dirname(file) } : null;
    this.#maps.set(url, found);
    return found;
  }
}

const pct = (n: number, total: number) => Math.round((1000 * n) / Math.max(1, total)) / 10;

export function summariseProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const maps = new SourceMaps();
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    node.callFrame = maps.original(node.callFrame);
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfByFunction = new Map<string, number>();
  const selfByArea = new Map<string, number>();
  const inclusiveByArea = new Map<string, number>();
  let idle = 0;
  for (const id of profile.samples) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += 1;
      continue;
    }
    const area = areaOf(url, functionName);
    const fn = `${functionName || '(anonymous)'} ${area}${url ? `:${lineNumber + 1}` : ''}`;
    selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + 1);
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame) seen.add(areaOf(frame.url, frame.functionName));
    }
    for (const a of seen) inclusiveByArea.set(a, (inclusiveByArea.get(a) ?? 0) + 1);
  }
  const busy = profile.samples.length - idle;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    file,
    samples: profile.samples.length,
    busyPct: pct(busy, profile.samples.length),
    topFunctions: sorted(selfByFunction)
      .slice(0, top)
      .map(([name, n]) => ({ name, selfPct: pct(n, busy) })),
    areas: sorted(selfByArea)
      .slice(0, top)
      .map(([name, n]) => ({ name, selfPct: pct(n, busy), inclusivePct: pct(inclusiveByArea.get(name) ?? 0, busy) })),
  };
}

export function formatSummary(title: string, summary: ProfileSummary): string {
  const lines = [`### ${title}`, '', `${summary.samples} samples, busy ${summary.busyPct} % (shares below are of busy time)`, ''];
  lines.push('| area | self % | inclusive % |', '|---|---:|---:|');
  for (const a of summary.areas.slice(0, 15)) lines.push(`| ${a.name} | ${a.selfPct} | ${a.inclusivePct ?? ''} |`);
  lines.push('', '| function (self time) | self % |', '|---|---:|');
  for (const f of summary.topFunctions) lines.push(`| \`${f.name}\` | ${f.selfPct} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const file of process.argv.slice(2)) process.stdout.write(`${formatSummary(file, summariseProfile(file))}\n\n`);
}
