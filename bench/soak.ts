/**
 * `npm run soak`: the embedded runtime, as its own process on loopback, under hostile MQTT clients while
 * legitimate devices keep publishing. Reports the server's memory (from /proc/<pid>/status) before, during
 * and after each attack, and whether any legitimate record was lost. Writes its own section of
 * BENCHMARKS.md (between the soak markers; `npm run bench` keeps that section as it is).
 *
 * Phases, while the device stub's fleet publishes at a steady rate throughout:
 *   1. quiet: the fleet alone, for the baseline;
 *   2. pre-auth flood: sockets that send a CONNECT declaring 268 MB and then stream bytes, `floodConcurrency`
 *      at a time, each replaced as soon as it ends, for `floodMs`;
 *   3. connect storm: `stormSockets` sockets opened at once that never finish CONNECT (half send nothing,
 *      half a partial CONNECT), held for `stormHoldMs` (longer than the connect timeout);
 *   4. the fleet finishes; every record it created must be stored on the server.
 *
 *   --quick            toy sizes, to check the script itself in seconds
 *   --out FILE         where to write the section's document; "-" for stdout. Default BENCHMARKS.md
 *                      (stdout with --quick)
 *   --against DIR      start the runtime from another checkout (e.g. an older commit), for a before/after
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startFleet } from '../device-stub/fleet.js';
import {
  floodOversizedConnect,
  type OpenSocket,
  openSocket,
  openStalledConnect,
} from '../tests/support/hostile-mqtt.js';
import { peakRssBytes, resetPeakRss, rssBytes } from '../tests/support/process-memory.js';
import { operatorFetch, type SpawnedRuntime, spawnRuntime, tempDir } from '../tests/support/runtime.js';
import { type MachineInfo, machineInfo } from './machine.js';
import { MiB, progress } from './stats.js';

export interface SoakOptions {
  devices: number;
  /** Records per second per device, for the whole run. */
  ratePerDevice: number;
  quietMs: number;
  floodMs: number;
  floodConcurrency: number;
  /** Bytes each flood socket offers after its header. */
  floodBytesPerSocket: number;
  stormSockets: number;
  stormHoldMs: number;
  /** Extra environment for the runtime (its limits are the defaults otherwise). */
  runtimeEnv?: Record<string, string>;
  /** Repository to start the runtime from; this one by default. */
  runtimeRepo?: string;
  onProgress?: (msg: string) => void;
}

export interface PhaseMemory {
  /** Resident set when the phase started, MiB. */
  startMiB: number;
  /** Largest resident set during the phase (the kernel's VmHWM, reset at its start), MiB. */
  peakMiB: number;
}

export interface SoakFigures {
  startedAt: Date;
  finishedAt: Date;
  command: string;
  machine: MachineInfo;
  options: Omit<SoakOptions, 'onProgress'>;
  quiet: PhaseMemory;
  flood: PhaseMemory & {
    sockets: number;
    closedByServer: number;
    offeredMiB: number;
    ms: number;
  };
  storm: PhaseMemory & {
    sockets: number;
    /** How long opening them all took: the server accepts them as fast as its event loop allows. */
    openMs: number;
    /** Closed by the server before the hold ended (the server's log says why). */
    closedByServer: number;
    /** Still open when the hold ended. */
    stillOpen: number;
  };
  /** Once the fleet finished and the attackers are gone. */
  afterMiB: number;
  fleet: {
    created: number;
    acked: number;
    storedOnServer: number;
    lost: number;
    resent: number;
    reconnects: number;
    outboxLeft: number;
    ok: boolean;
    errors: string[];
  };
  /** Refusal counts from the runtime's own summary log lines. */
  serverRefusals: Record<string, number>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

/** Peak since the last reset; where the kernel refuses the reset, the largest of periodic samples. */
function memoryWatch(pid: number) {
  let sampled = 0;
  let canReset = false;
  const timer = setInterval(() => {
    try {
      sampled = Math.max(sampled, rssBytes(pid));
    } catch {
      // The process is gone; the phase reports what it saw.
    }
  }, 50);
  return {
    start(): number {
      canReset = resetPeakRss(pid);
      const now = rssBytes(pid);
      sampled = now;
      return now;
    },
    peak(): number {
      return Math.max(sampled, canReset ? peakRssBytes(pid) : 0);
    },
    stop: () => clearInterval(timer),
  };
}

/** Sums the `refused` counts of the runtime's `broker refused unauthenticated connections` log lines. */
export function refusalsFromLog(output: string): Record<string, number> {
  const total: Record<string, number> = {};
  for (const line of output.split('\n')) {
    if (!line.includes('broker refused unauthenticated connections')) continue;
    try {
      const refused = (JSON.parse(line) as { refused?: Record<string, number> }).refused ?? {};
      for (const [code, n] of Object.entries(refused)) total[code] = (total[code] ?? 0) + n;
    } catch {
      // Not a JSON log line.
    }
  }
  return total;
}

async function flood(port: number, o: SoakOptions) {
  const end = Date.now() + o.floodMs;
  let sockets = 0;
  let closedByServer = 0;
  let offered = 0;
  const worker = async () => {
    while (Date.now() < end) {
      const r = await floodOversizedConnect(port, { bytes: o.floodBytesPerSocket, waitCloseMs: 5000 });
      sockets++;
      offered += r.sent + 5;
      if (r.closedByServer) closedByServer++;
    }
  };
  await Promise.all(Array.from({ length: o.floodConcurrency }, worker));
  return { sockets, closedByServer, offeredMiB: mib(offered) };
}

async function storm(port: number, o: SoakOptions) {
  const opened: OpenSocket[] = [];
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: o.stormSockets }, async (_, i) => {
      const s = await (i % 2 === 0 ? openSocket(port) : openStalledConnect(port)).catch(() => undefined);
      if (s) opened.push(s);
    }),
  );
  const openMs = Date.now() - t0;
  await sleep(o.stormHoldMs);
  const closedByServer = opened.filter((s) => s.isClosed()).length;
  for (const s of opened) s.socket.destroy();
  return { sockets: opened.length, openMs, closedByServer, stillOpen: opened.length - closedByServer };
}

export async function measureSoak(o: SoakOptions, command = 'npm run soak'): Promise<SoakFigures> {
  const say = o.onProgress ?? (() => undefined);
  const startedAt = new Date();
  const dataDir = tempDir('iotn-soak-');
  const stateDir = tempDir('iotn-soak-stub-');
  let rt: SpawnedRuntime | undefined;
  let figures: AttackFigures;
  try {
    rt = await spawnRuntime(dataDir, { LOG_LEVEL: 'warn', ...o.runtimeEnv }, o.runtimeRepo);
    figures = await attack(rt, o, say, stateDir);
  } finally {
    if (rt) {
      rt.child.kill('SIGTERM');
      await rt.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
  const { onProgress: _, ...options } = o;
  return {
    ...figures,
    startedAt,
    finishedAt: new Date(),
    command,
    machine: machineInfo(tmpdir()),
    options,
    // Read once the runtime has stopped: stopping flushes its last summary line.
    serverRefusals: refusalsFromLog(rt?.output() ?? ''),
  };
}

type AttackFigures = Omit<
  SoakFigures,
  'serverRefusals' | 'startedAt' | 'finishedAt' | 'command' | 'machine' | 'options'
>;

async function attack(
  rt: SpawnedRuntime,
  o: SoakOptions,
  say: (msg: string) => void,
  stateDir: string,
): Promise<AttackFigures> {
  const port = rt.info.mqttPort;
  const pid = rt.info.pid;
  const totalMs = o.quietMs + o.floodMs + o.stormHoldMs + 2000;
  const fleet = startFleet({
    devices: o.devices,
    records: Math.ceil((o.ratePerDevice * totalMs) / 1000),
    ratePerSecond: o.ratePerDevice,
    packetBytes: 1024,
    seed: 1,
    prefix: 'soak',
    mqttUrl: `mqtt://127.0.0.1:${port}`,
    apiUrl: rt.info.baseUrl,
    operatorToken: rt.token,
    stateDir,
    maxInFlight: 100,
    // One record per publish, as the soak's earlier figures were measured (before record packs).
    packMaxRecords: 1,
    ackTimeoutMs: 10_000,
    timeoutMs: totalMs + 120_000,
  });
  const mem = memoryWatch(pid);
  try {
    say(`quiet: ${o.devices} devices at ${o.ratePerDevice} rec/s each for ${o.quietMs} ms`);
    const quietStart = mem.start();
    await sleep(o.quietMs);
    const quiet = { startMiB: mib(quietStart), peakMiB: mib(mem.peak()) };

    say(`pre-auth flood: ${o.floodConcurrency} sockets at a time for ${o.floodMs} ms`);
    const floodStart = mem.start();
    const t0 = Date.now();
    const f = await flood(port, o);
    const floodFig = { ...f, ms: Date.now() - t0, startMiB: mib(floodStart), peakMiB: mib(mem.peak()) };
    say(`  ${f.sockets} sockets, ${f.closedByServer} closed by the server, peak ${floodFig.peakMiB} MiB`);

    say(`connect storm: ${o.stormSockets} sockets held ${o.stormHoldMs} ms`);
    const stormStart = mem.start();
    const s = await storm(port, o);
    const stormFig = { ...s, startMiB: mib(stormStart), peakMiB: mib(mem.peak()) };
    say(
      `  ${s.sockets} opened in ${s.openMs} ms, ${s.closedByServer} closed by the server, peak ${stormFig.peakMiB} MiB`,
    );

    say('waiting for the fleet to finish');
    const r = await fleet.result;
    await sleep(2000);
    const afterMiB = mib(rssBytes(pid));

    const api = operatorFetch(rt.info.baseUrl, rt.token);
    let storedOnServer = 0;
    for (const d of r.devices) {
      const g = await api<{ received: number }>(`/v1/devices/${d.deviceId}/gaps`);
      storedOnServer += g.body.received;
    }
    const errors = [
      ...new Set(r.devices.flatMap((d) => (d.error ? [`${d.error.code}: ${d.error.message}`] : []))),
    ];
    return {
      quiet,
      flood: floodFig,
      storm: stormFig,
      afterMiB,
      fleet: {
        created: r.created,
        acked: r.acked,
        storedOnServer,
        lost: r.created - storedOnServer,
        resent: r.devices.reduce((a, d) => a + d.resent, 0),
        reconnects: r.devices.reduce((a, d) => a + d.reconnects, 0),
        outboxLeft: r.outboxLeft,
        ok: r.ok,
        errors,
      },
    };
  } finally {
    mem.stop();
  }
}

// ------------------------------------------------------------------------------------------ report

export const SOAK_BEGIN = '<!-- soak:begin -->';
export const SOAK_END = '<!-- soak:end -->';

export interface SoakRun {
  /** What was run, e.g. "this checkout" or "before (d27fe29)". */
  label: string;
  figures: SoakFigures;
}

const n = (x: number) => x.toLocaleString('en-US');
const mb = (x: number) => `${x.toFixed(1)} MiB`;

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function soakSection(runs: SoakRun[], tookS: number): string {
  const first = runs[0]?.figures;
  if (!first) throw new Error('no soak run to report');
  const m = first.machine;
  const o = first.options;
  const pendingCap = o.runtimeEnv?.MQTT_MAX_PENDING_CONNECTIONS ?? '1000';
  const timeoutS = Number(o.runtimeEnv?.MQTT_CONNECT_TIMEOUT_MS ?? 10_000) / 1000;
  const head = (title: string) => row([title, ...runs.map((r) => r.label)]);
  const sep = row(['---', ...runs.map(() => '---')]);
  const each = (label: string, f: (x: SoakFigures) => string) =>
    row([label, ...runs.map((r) => f(r.figures))]);
  return `${SOAK_BEGIN}
## Soak: hostile clients on loopback

Generated by \`${first.command}\` on ${first.startedAt.toISOString()} (took ${tookS.toFixed(0)} s). Regenerate
with the same command; \`bench/soak.ts\` writes this section, and \`npm run bench\` keeps it as it is.

${row(['Machine', ''])}
${row(['---', '---'])}
${row(['CPU', m.cpuModel])}
${row(['Cores', String(m.cores)])}
${row(['RAM', `${m.ramGiB} GiB`])}
${row(['Node', m.node])}
${row(['OS', m.os])}
${row(['Load average (1 min) at start', m.loadAvg.toFixed(2)])}

The runtime runs as its own process (\`lib/runtime/main.ts\`, durable writes, MQTT_MAX_PENDING_CONNECTIONS
${pendingCap}, MQTT_CONNECT_TIMEOUT_MS ${timeoutS * 1000}) on 127.0.0.1;
its resident set size is read from \`/proc/<pid>/status\` (the peak is the kernel's VmHWM, reset when each
phase starts). Throughout, ${o.devices} devices of the device stub publish ${o.ratePerDevice} records/s each
(1 KiB packets, QoS 1, outbox on disk) over plain MQTT. The attackers run in the same driver process.

- **Pre-auth flood**: for ${(o.floodMs / 1000).toFixed(0)} s, ${o.floodConcurrency} sockets at a time, each
  sending a CONNECT header that declares 268,435,455 bytes and then up to ${mb(o.floodBytesPerSocket / MiB)}
  of zeros; each is replaced as soon as it ends (the server closes it, or the client gives up after 5 s).
- **Connect storm**: ${n(o.stormSockets)} sockets opened at once (all connects started together; how long
  they took to be accepted is in the table), half sending nothing, half a partial CONNECT, then held for
  ${(o.stormHoldMs / 1000).toFixed(1)} s (the connect timeout is ${timeoutS} s). Which refusal closed a socket
  is in the server's own counts: \`too-many-pending\` at accept, \`connect-timeout\` later. A socket the
  client sees as connected may still wait in the kernel's accept queue; admitted late, once earlier ones timed
  out, it can still be open when the hold ends, and closes at its own timeout.

${head('Server memory')}
${sep}
${each('RSS before the attacks (devices publishing)', (f) => mb(f.quiet.startMiB))}
${each('Peak RSS, devices alone', (f) => mb(f.quiet.peakMiB))}
${each('Peak RSS during the pre-auth flood', (f) => mb(f.flood.peakMiB))}
${each('Peak RSS during the connect storm', (f) => mb(f.storm.peakMiB))}
${each('RSS after (attackers gone, devices done)', (f) => mb(f.afterMiB))}
${each('Largest attack peak above the quiet peak', (f) => mb(Math.max(f.flood.peakMiB, f.storm.peakMiB) - f.quiet.peakMiB))}

${head('Attack')}
${sep}
${each('Flood sockets', (f) => n(f.flood.sockets))}
${each('… closed by the server', (f) => n(f.flood.closedByServer))}
${each('Flood bytes offered', (f) => mb(f.flood.offeredMiB))}
${each('Storm sockets opened', (f) => `${n(f.storm.sockets)} in ${(f.storm.openMs / 1000).toFixed(1)} s`)}
${each('… closed by the server before the hold ended', (f) => n(f.storm.closedByServer))}
${each('… still open when the hold ended', (f) => n(f.storm.stillOpen))}
${each(
  "Server's own refusal counts (its log)",
  (f) =>
    Object.entries(f.serverRefusals)
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(', ') || 'none logged',
)}

${head('Legitimate devices')}
${sep}
${each('Records created', (f) => n(f.fleet.created))}
${each('Records stored on the server', (f) => n(f.fleet.storedOnServer))}
${each('**Records lost** (must be 0)', (f) => `**${n(f.fleet.lost)}**`)}
${each('Records resent (after the 10 s ack timeout or a reconnect)', (f) => n(f.fleet.resent))}
${each('Device reconnects (connections dropped during the run)', (f) => n(f.fleet.reconnects))}
${each('Left in the outboxes', (f) => n(f.fleet.outboxLeft))}
${each('Device errors', (f) => f.fleet.errors.join('; ') || 'none')}
${SOAK_END}`;
}

/** Puts the soak section into a BENCHMARKS.md: in place of the previous one, else before the method notes. */
export function spliceSoakSection(doc: string, section: string): string {
  const begin = doc.indexOf(SOAK_BEGIN);
  const end = doc.indexOf(SOAK_END);
  if (begin >= 0 && end > begin) return doc.slice(0, begin) + section + doc.slice(end + SOAK_END.length);
  const notes = doc.indexOf('\n## Method notes');
  if (notes >= 0) return `${doc.slice(0, notes + 1)}${section}\n\n${doc.slice(notes + 1)}`;
  return `${doc.replace(/\n*$/, '\n\n')}${section}\n`;
}

/** The soak section of an existing document, for `npm run bench` to carry over; undefined if it has none. */
export function existingSoakSection(doc: string): string | undefined {
  const begin = doc.indexOf(SOAK_BEGIN);
  const end = doc.indexOf(SOAK_END);
  return begin >= 0 && end > begin ? doc.slice(begin, end + SOAK_END.length) : undefined;
}

// ------------------------------------------------------------------------------------------ command line

const FULL: Omit<SoakOptions, 'onProgress'> = {
  devices: 8,
  ratePerDevice: 25,
  quietMs: 5_000,
  floodMs: 20_000,
  floodConcurrency: 32,
  floodBytesPerSocket: 8 * MiB,
  stormSockets: 3_000,
  stormHoldMs: 12_000,
};

/** Toy sizes with small limits, for `--quick` and the smoke test. */
export const SOAK_QUICK: Omit<SoakOptions, 'onProgress'> = {
  devices: 2,
  ratePerDevice: 10,
  quietMs: 500,
  floodMs: 1_000,
  floodConcurrency: 4,
  floodBytesPerSocket: 1 * MiB,
  stormSockets: 40,
  stormHoldMs: 3_000,
  runtimeEnv: { MQTT_MAX_PENDING_CONNECTIONS: '10', MQTT_CONNECT_TIMEOUT_MS: '1000' },
};

/** "commit abc1234" for a git checkout, so a before/after table says what each column ran. */
function describeCheckout(dir: string): string {
  try {
    const sha = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
    }).trim();
    return `commit ${sha}${dirty ? ' with changes' : ''}`;
  } catch {
    return dir;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      out: { type: 'string' },
      against: { type: 'string' },
    },
    strict: true,
  });
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));
  const out = values.out ?? (values.quick ? '-' : join(repoRoot, 'BENCHMARKS.md'));
  const plan = values.quick ? SOAK_QUICK : FULL;
  const args = process.argv.slice(2).join(' ');
  const command = `npm run soak${args ? ` -- ${args}` : ''}`;
  const t0 = Date.now();
  const runs: SoakRun[] = [];
  if (values.against) {
    const dir = resolve(values.against);
    if (!existsSync(join(dir, 'lib/runtime/main.ts')))
      throw new Error(`${dir} is not a checkout of this project`);
    progress(`runtime from ${dir}`);
    runs.push({
      label: `before: ${describeCheckout(dir)}`,
      figures: await measureSoak({ ...plan, runtimeRepo: dir, onProgress: progress }, command),
    });
  }
  progress('runtime from this checkout');
  runs.push({
    label: `this checkout: ${describeCheckout(repoRoot)}`,
    figures: await measureSoak({ ...plan, onProgress: progress }, command),
  });
  const section = soakSection(runs, (Date.now() - t0) / 1000);
  if (out === '-') process.stdout.write(`${section}\n`);
  else {
    const doc = existsSync(out) ? readFileSync(out, 'utf8') : '# Benchmarks\n';
    writeFileSync(out, spliceSoakSection(doc, section));
    progress(`wrote ${out}`);
  }
  const lost = runs.reduce((a, r) => a + r.figures.fleet.lost, 0);
  if (lost > 0) {
    progress(`${lost} legitimate records were lost`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    progress(`soak failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  });
}
