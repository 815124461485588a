/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [N]`: the top N functions by self time and by
 * inclusive time, and self time by file or package, of a V8 CPU profile (from `--cpu-prof` or
 * `npm run bench -- --cpu-prof DIR`). Enough to see where a bench's time goes without opening DevTools.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  self: [string, number][];
  inclusive: [string, number][];
  byFile: [string, number][];
}

const repoUrl = pathToFileURL(`${process.cwd()}/`).href;

function where(url: string): string {
  return url.replace(repoUrl, '').replace(/.*node_modules\//, 'node_modules/');
}

/** Pseudo-frames such as (idle) and (garbage collector) are already in parentheses. */
function nativeName(n: ProfileNode): string {
  const name = n.callFrame.functionName || '(anonymous)';
  return name.startsWith('(') ? name : `${name} (native)`;
}

function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  if (!f.url) return nativeName(n);
  return `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`;
}

/** A package under node_modules, a file of ours, or the pseudo-frame ((idle), (garbage collector), ...). */
function fileOf(n: ProfileNode): string {
  const u = where(n.callFrame.url);
  if (!u) return nativeName(n);
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  return m ? `node_modules/${m[1]}` : u;
}

function top(m: Map<string, number>, n: number): [string, number][] {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
}

export function summarise(p: CpuProfile, n = 30): ProfileSummary {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  // The profiler's own calls (starting and stopping it from bench/profiler.ts) are not the bench's time.
  const ownCall = new Map<number, boolean>();
  const isOwn = (id: number): boolean => {
    const known = ownCall.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    const up = parent.get(id);
    const own =
      node !== undefined &&
      (node.callFrame.url.endsWith('bench/profiler.ts') || (up !== undefined && isOwn(up)));
    ownCall.set(id, own);
    return own;
  };
  const selfUs = new Map<number, number>();
  let countedUs = 0;
  p.samples.forEach((id, i) => {
    if (isOwn(id)) return;
    const us = p.timeDeltas[i] ?? 0;
    countedUs += us;
    selfUs.set(id, (selfUs.get(id) ?? 0) + us);
  });
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const byFile = new Map<string, number>();
  const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us / 1000);
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    add(self, frameName(node), us);
    add(byFile, fileOf(node), us);
    // A recursive function counts once per sample in its inclusive time.
    const seen = new Set<string>();
    for (let cur: ProfileNode | undefined = node; cur; ) {
      const k = frameName(cur);
      if (!seen.has(k)) {
        seen.add(k);
        add(inclusive, k, us);
      }
      const up = parent.get(cur.id);
      cur = up === undefined ? undefined : byId.get(up);
    }
  }
  return {
    totalMs: countedUs / 1000,
    self: top(self, n),
    inclusive: top(inclusive, n),
    byFile: top(byFile, n),
  };
}

function print(title: string, rows: [string, number][], totalMs: number): void {
  process.stdout.write(`\n${title}\n`);
  for (const [k, ms] of rows) {
    const share = ((100 * ms) / totalMs).toFixed(1).padStart(5);
    process.stdout.write(`${ms.toFixed(0).padStart(8)} ms ${share}%  ${k}\n`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, count] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [N]\n');
    process.exit(2);
  }
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(count ?? 30));
  process.stdout.write(`${file}: ${s.totalMs.toFixed(0)} ms profiled\n`);
  print('Self time', s.self, s.totalMs);
  print('Self time by file or package', s.byFile, s.totalMs);
  print('Inclusive time', s.inclusive, s.totalMs);
}
