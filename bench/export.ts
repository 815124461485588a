/**
 * `npm run bench:export`: the range export and the installable verifier at scale, written into
 * BENCHMARKS.md between `<!-- export:begin -->` and `<!-- export:end -->` (the full `npm run bench` carries
 * the section over, as it does the soak's).
 *
 * 1. A store of N records of one device (default 100,000; unsigned, 256-byte plaintexts) is built through
 *    lib/ingest in an embedded runtime, and anchored on its embedded ledger.
 * 2. The runtime then runs as its own process (`lib/runtime/main.ts`) on that store. Its resident set is read
 *    idle (the baseline), then its peak (the kernel's VmHWM, reset before each export) while it streams an
 *    export of N/10 records and one of all N (with envelopes) to a file over HTTP: records/s, and peak RSS
 *    above the baseline. Flat memory shows as the two peaks being alike although one export is ten times
 *    the other.
 * 3. The bundled verifier (verifier/dist, `npm run build:verifier`) checks the N-record archive in a process
 *    of its own, with the ledger key pinned: records/s and its peak RSS.
 *
 *   --records N   records in the store (default 100000)
 *   --quick       2,000 records, to check the script
 *   --out FILE    "-" for stdout; default BENCHMARKS.md (with --quick, stdout)
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ingestEnvelope } from '../lib/ingest/ingest-envelope.js';
import { testOrigin } from '../tests/support/origin.js';
import { peakRssBytes, resetPeakRss, rssBytes } from '../tests/support/process-memory.js';
import { spawnRuntime, startInProcess, tempDir } from '../tests/support/runtime.js';
import { TestDevice } from '../tests/support/test-device.js';
import { machineInfo } from './machine.js';

export const EXPORT_BEGIN = '<!-- export:begin -->';
export const EXPORT_END = '<!-- export:end -->';
const REPO = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;
const DEVICE = 'bench-export-1';

const log = (s: string) => process.stderr.write(`bench:export: ${s}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;

async function populate(dataDir: string, records: number): Promise<void> {
  const rt = await startInProcess({
    DATA_DIR: dataDir,
    DURABLE_WRITES: 'false',
    ANCHOR_MAX_BATCH: String(Math.max(records, 1000)),
  });
  try {
    const dev = new TestDevice(DEVICE);
    const p = await fetch(`${rt.baseUrl}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: DEVICE, masterKey: dev.masterKeyBase64 }),
    });
    if (p.status !== 201) throw new Error(`provisioning answered ${p.status}`);
    const deps = {
      objects: rt.objects,
      index: rt.index,
      clock: Date.now,
      limits: { maxClockSkewMs: 0 },
      origin: testOrigin(rt.index),
    };
    const plaintext = new Uint8Array(256).fill(7);
    for (let i = 0; i < records; i++) {
      const out = await ingestEnvelope(deps, {
        deviceId: DEVICE,
        bytes: dev.seal({ signer: null, plaintext }).envelope,
        via: 'inline',
      });
      if (out.status !== 'stored') throw new Error(`record ${i}: ${out.status}`);
      if ((i + 1) % 20_000 === 0) log(`stored ${i + 1}/${records}`);
    }
    await rt.anchorNow();
  } finally {
    await rt.stop();
  }
}

async function download(baseUrl: string, token: string, query: string, file: string) {
  const t0 = performance.now();
  const res = await fetch(`${baseUrl}/v1/devices/${DEVICE}/export?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status !== 200 || !res.body) throw new Error(`export answered ${res.status}: ${await res.text()}`);
  const records = Number(res.headers.get('x-export-records'));
  const out = createWriteStream(file);
  for await (const chunk of res.body) {
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  const ms = performance.now() - t0;
  return { records, ms, bytes: statSync(file).size };
}

/** Runs the bundled verifier on `file`, polling its peak RSS (the kernel keeps the peak itself). */
async function verify(file: string, ledgerKey: string) {
  const bin = join(REPO, 'verifier', 'dist', 'iot-notary-verify.mjs');
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, file, '--trust-ledger-key', ledgerKey, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  let peak = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, peakRssBytes(child.pid as number));
    } catch {
      // exited between two polls
    }
  }, 50);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearInterval(timer);
  const ms = performance.now() - t0;
  const report = JSON.parse(stdout) as { exit: number; records: { checked: number } };
  return { code, ms, peak, checked: report.records.checked };
}

export async function measureExport(records: number) {
  const dataDir = tempDir('iotn-bench-export-');
  const files = tempDir('iotn-bench-export-files-');
  try {
    log(`building a store of ${records} records`);
    await populate(dataDir, records);
    const rt = await spawnRuntime(dataDir, { LOG_LEVEL: 'warn' });
    try {
      const pid = rt.info.pid;
      const chains = (await (
        await fetch(`${rt.info.baseUrl}/v1/chains`, { headers: { authorization: `Bearer ${rt.token}` } })
      ).json()) as { items: { kind: string; publicKey?: string }[] };
      const ledgerKey = chains.items.find((c) => c.kind === 'embedded-ledger')?.publicKey as string;
      await new Promise((r) => setTimeout(r, 1000));
      resetPeakRss(pid);
      const baseline = rssBytes(pid);
      const tenth = Math.max(1, Math.floor(records / 10));
      log(`export of ${tenth} records`);
      const small = await download(
        rt.info.baseUrl,
        rt.token,
        `fromSeq=0&toSeq=${tenth - 1}&envelopes=true`,
        join(files, 'small.tar'),
      );
      const smallPeak = peakRssBytes(pid);
      resetPeakRss(pid);
      const baseline2 = rssBytes(pid);
      log(`export of ${records} records`);
      const full = await download(rt.info.baseUrl, rt.token, 'envelopes=true', join(files, 'full.tar'));
      const fullPeak = peakRssBytes(pid);
      log('building the verifier and checking the archive');
      execFileSync(process.execPath, [join(REPO, 'verifier', 'build.mjs')]);
      const v = await verify(join(files, 'full.tar'), ledgerKey);
      if (v.code !== 0 || v.checked !== records)
        throw new Error(`the verifier exited ${v.code} having checked ${v.checked} of ${records}`);
      return {
        records,
        baseline,
        small: { ...small, peak: smallPeak, baseline },
        full: { ...full, peak: fullPeak, baseline: baseline2 },
        verify: v,
      };
    } finally {
      rt.child.kill('SIGTERM');
      await rt.exited;
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
}

type Figures = Awaited<ReturnType<typeof measureExport>>;

export function renderExportSection(f: Figures, at: Date): string {
  const m = machineInfo(tempDir('iotn-bench-m-'));
  const row = (what: string, x: Figures['small']) =>
    `| ${what} | ${fmt(x.records)} | ${mib(x.bytes)} | ${(x.ms / 1000).toFixed(1)} s | ${fmt((x.records / x.ms) * 1000)} | ${mib(x.baseline)} | ${mib(x.peak)} | +${mib(Math.max(0, x.peak - x.baseline))} |`;
  return `${EXPORT_BEGIN}
## Range export and the installable verifier

Generated by \`npm run bench:export\` on ${at.toISOString()}: ${m.cpuModel}, ${m.cores} cores, Node ${m.node},
load average ${m.loadAvg.toFixed(2)} at start. One device's ${fmt(f.records)} unsigned records (256-byte
plaintexts) in the embedded store, anchored on the embedded ledger; the runtime as its own process
(\`lib/runtime/main.ts\`) streams \`GET /v1/devices/{id}/export?envelopes=true\` over loopback HTTP to a
file. RSS is the runtime process's: idle before the export, and its peak during it (the kernel's VmHWM,
reset before each export). Compare the peaks above idle: memory held per record would grow them tenfold
with the export; what is left is the collector letting garbage pile up, and the tenth's completeness document.

| Export | Records | Archive | Time | Records/s | RSS idle | RSS peak | Peak above idle |
| --- | --- | --- | --- | --- | --- | --- | --- |
${row('a tenth', f.small)}
${row('all', f.full)}

The installable verifier (\`verifier/dist/iot-notary-verify.mjs\`, its own process, ledger key pinned,
every bundle checked with its envelope, summary and entry chain checked): ${fmt(f.verify.checked)} records
in ${(f.verify.ms / 1000).toFixed(1)} s, **${fmt((f.verify.checked / f.verify.ms) * 1000)} records/s**, peak
RSS ${mib(f.verify.peak)}.
${EXPORT_END}`;
}

export function spliceExportSection(doc: string, section: string): string {
  const begin = doc.indexOf(EXPORT_BEGIN);
  const end = doc.indexOf(EXPORT_END);
  if (begin >= 0 && end > begin) return doc.slice(0, begin) + section + doc.slice(end + EXPORT_END.length);
  const notes = doc.indexOf('\n## Method notes');
  if (notes >= 0) return `${doc.slice(0, notes + 1)}${section}\n\n${doc.slice(notes + 1)}`;
  return `${doc.replace(/\n*$/, '\n\n')}${section}\n`;
}

/** The export section of an existing document, for `npm run bench` to carry over. */
export function existingExportSection(doc: string): string | undefined {
  const begin = doc.indexOf(EXPORT_BEGIN);
  const end = doc.indexOf(EXPORT_END);
  return begin >= 0 && end > begin ? doc.slice(begin, end + EXPORT_END.length) : undefined;
}

if (process.argv[1] !== undefined && import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { records: { type: 'string' }, quick: { type: 'boolean' }, out: { type: 'string' } },
    strict: true,
  });
  const records = values.quick ? 2000 : Number(values.records ?? 100_000);
  if (!Number.isInteger(records) || records < 10) {
    process.stderr.write('bench:export: --records must be an integer of at least 10\n');
    process.exit(2);
  }
  const at = new Date();
  const section = renderExportSection(await measureExport(records), at);
  const out = values.out ?? (values.quick ? '-' : join(REPO, 'BENCHMARKS.md'));
  if (out === '-') process.stdout.write(`${section}\n`);
  else writeFileSync(out, spliceExportSection(existsSync(out) ? readFileSync(out, 'utf8') : '', section));
}
