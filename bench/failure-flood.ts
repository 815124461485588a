/**
 * What a flood of unauthenticated failures costs the runtime on disk and in its log: for each surface, a
 * fresh runtime process (`lib/runtime/main.ts` of --repo, default settings, LOG_LEVEL=info as `npm start`)
 * takes failed MQTT CONNECTs, or bad `PUT /v1/uploads`, from one address (127.0.0.2) for --seconds, as fast
 * as 50 concurrent clients get answers. The runtime is then stopped (which writes its last summary) and the
 * dead-letter rows and refusal log lines are counted, with the refusals they account for.
 *
 *   npm run bench:flood -- [--seconds 10] [--repo DIR]
 *
 * --repo points at another checkout (e.g. `git archive main | tar -x -C DIR` with node_modules linked) to
 * measure the code before a change with the same client. Prints a Markdown table on stdout. Not part of
 * `npm run bench`: it measures a defence, not throughput.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { connectOnce, httpFrom } from '../tests/support/flood.js';
import { REPO, tempDir, waitFor } from '../tests/support/runtime.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, repo: { type: 'string', default: REPO } },
});
const seconds = Number(values.seconds);
const repo = values.repo;

interface Figures {
  surface: string;
  attempts: number;
  rows: number;
  refusalsCounted: number;
  logLines: number;
  seconds: number;
}

async function run(surface: 'mqtt' | 'upload'): Promise<Figures> {
  const dataDir = tempDir('iotn-flood-bench-');
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--import', 'tsx', 'lib/runtime/main.ts'],
    {
      cwd: repo,
      env: { ...process.env, HTTP_PORT: '0', MQTT_PORT: '0', LOG_LEVEL: 'info', DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const info = await waitFor(
    'runtime.json',
    () => {
      const path = join(dataDir, 'runtime.json');
      if (!existsSync(path)) return undefined;
      const i = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; mqttPort: number; baseUrl: string };
      return i.pid === child.pid ? i : undefined;
    },
    60_000,
  );

  const deadline = Date.now() + seconds * 1000;
  let attempts = 0;
  const started = Date.now();
  /** 50 clients, each sending its next attempt as soon as the last is answered, until the deadline. */
  const flood = (attempt: () => Promise<unknown>) =>
    Promise.all(
      Array.from({ length: 50 }, async () => {
        while (Date.now() < deadline) {
          attempts++;
          await attempt();
        }
      }),
    );
  if (surface === 'mqtt') {
    await flood(() =>
      connectOnce({
        host: '127.0.0.1',
        port: info.mqttPort,
        localAddress: '127.0.0.2',
        clientId: `intruder-${attempts % 100}`,
        password: 'guess',
      }),
    );
  } else {
    const http = httpFrom('127.0.0.2');
    const url = `${info.baseUrl}/v1/uploads?key=uploads%2Fintruder%2F${'a'.repeat(64)}&sha256=${'a'.repeat(64)}&size=3&exp=${Date.now() + 3_600_000}&sig=forged`;
    await flood(() => http.send(url, 'PUT', new Uint8Array([1, 2, 3])));
    http.close();
  }
  const elapsed = (Date.now() - started) / 1000;
  child.kill('SIGTERM');
  await exited;

  const db = new DatabaseSync(join(dataDir, 'index.sqlite'));
  const hasCount = (db.prepare('PRAGMA table_info(dead_letters)').all() as { name: string }[]).some(
    (c) => c.name === 'count',
  );
  const row = db
    .prepare(
      `SELECT COUNT(*) AS n, ${hasCount ? 'SUM(COALESCE(count, 1))' : 'COUNT(*)'} AS refusals FROM dead_letters`,
    )
    .get() as { n: number; refusals: number };
  db.close();
  rmSync(dataDir, { recursive: true, force: true });
  const logLines = out
    .split('\n')
    .filter((l) => /"msg":"(broker refused a client|upload refused|refusals summarised)"/.test(l)).length;
  return { surface, attempts, rows: row.n, refusalsCounted: row.refusals, logLines, seconds: elapsed };
}

const rate = (n: number, s: number) => (n / s).toFixed(1);
const rows: Figures[] = [];
for (const surface of ['mqtt', 'upload'] as const) {
  process.stderr.write(`flooding ${surface} for ${seconds} s…\n`);
  rows.push(await run(surface));
}
process.stdout.write(
  `| Flood (${repo}) | Attempts | Attempts/s | Dead-letter rows | Rows/s | Refusals counted | Log lines | Lines/s |\n` +
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n' +
    rows
      .map(
        (f) =>
          `| ${f.surface === 'mqtt' ? 'failed MQTT CONNECTs' : 'bad PUT /v1/uploads'} | ${f.attempts} | ${rate(f.attempts, f.seconds)} | ${f.rows} | ${rate(f.rows, f.seconds)} | ${f.refusalsCounted} | ${f.logLines} | ${rate(f.logLines, f.seconds)} |`,
      )
      .join('\n') +
    '\n',
);
