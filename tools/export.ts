/**
 * `npm run export`: downloads a range export (GET /v1/devices/{id}/export, docs/export.md) to a file, with a
 * progress line, reading the archive as it arrives so the line counts records written, not bytes guessed.
 *
 *   npm run export -- --device ID [--from T --to T | --from-seq N --to-seq N] [--envelopes] --out FILE
 *                     [--api URL] [--token-file F]
 *
 * The API and token are found as `npm run device` finds them: --api, API_URL, $DATA_DIR/runtime.json; the
 * token from OPERATOR_TOKEN (an auditor token works too), --token-file or $DATA_DIR/operator.token. The file
 * is written under a temporary name and renamed once the archive is whole (its summary and end blocks read),
 * so a cut download never sits at the name asked for.
 *
 * Exit status: 0 the archive is whole at --out, 1 the server refused or the archive was cut short, 2 usage.
 */
import { createWriteStream, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { classifyEntry } from '../lib/core/export-archive.js';
import { TarError, TarReader } from '../lib/core/tar.js';

export const USAGE = `usage: npm run export -- --device ID --out FILE [range] [--envelopes] [--api URL] [--token-file F]

  range: --from T --to T (device time, ms or ISO 8601, from <= t < to) or --from-seq N --to-seq N;
         none: the device's whole sequence (an auditor token with a time window: its window)
  --envelopes   include each record's envelope (needed to decrypt the export later)
  --quiet       no progress line`;

export interface ExportIo {
  err(text: string): void;
  /** Whether stderr is a terminal: the progress line is redrawn in place there, printed every 10% otherwise. */
  tty: boolean;
}

class Usage extends Error {}

const OPTIONS = {
  device: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'from-seq': { type: 'string' },
  'to-seq': { type: 'string' },
  envelopes: { type: 'boolean' },
  out: { type: 'string' },
  api: { type: 'string' },
  'token-file': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function settings(argv: readonly string[], env: NodeJS.ProcessEnv) {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true });
  } catch (e) {
    throw new Usage((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help' as const;
  if (!v.device || !v.out) throw new Usage('--device and --out are required');
  const dataDir = resolve(env.DATA_DIR ?? './data');
  let runtime: { baseUrl?: string } = {};
  try {
    runtime = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as typeof runtime;
  } catch {
    // Not next to a running runtime: --api or API_URL must say where it is.
  }
  const api = (
    v.api ??
    env.API_URL ??
    runtime.baseUrl ??
    `http://127.0.0.1:${env.HTTP_PORT ?? 8080}`
  ).replace(/\/$/, '');
  let token = env.OPERATOR_TOKEN ?? '';
  if (!token) {
    const file = v['token-file'] ?? join(dataDir, 'operator.token');
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch {
      throw new Usage(`no token: ${file} is not readable and OPERATOR_TOKEN is unset`);
    }
  }
  // The server validates the range and answers a bad one with its own message; only pass what was given.
  const q = new URLSearchParams();
  for (const [opt, param] of [
    ['from', 'from'],
    ['to', 'to'],
    ['from-seq', 'fromSeq'],
    ['to-seq', 'toSeq'],
  ] as const) {
    const value = v[opt];
    if (value !== undefined) q.set(param, value);
  }
  if (v.envelopes) q.set('envelopes', 'true');
  return { device: v.device, out: resolve(v.out), api, token, query: q.toString(), quiet: v.quiet === true };
}

function progressLine(done: number, total: number): string {
  const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
  return `exported ${done}/${total} records (${pct}%)`;
}

export async function runExport(
  argv: readonly string[],
  io: ExportIo = { err: (t) => process.stderr.write(t), tty: process.stderr.isTTY === true },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let s: Exclude<ReturnType<typeof settings>, 'help'>;
  try {
    const got = settings(argv, env);
    if (got === 'help') {
      io.err(`${USAGE}\n`);
      return 0;
    }
    s = got;
  } catch (e) {
    if (!(e instanceof Usage)) throw e;
    io.err(`export: ${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  const url = `${s.api}/v1/devices/${encodeURIComponent(s.device)}/export${s.query ? `?${s.query}` : ''}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${s.token}` } });
  } catch (e) {
    io.err(`export: cannot reach ${s.api}: ${(e as Error).message}\n`);
    return 1;
  }
  if (res.status !== 200 || !res.body) {
    const text = await res.text();
    let detail = text.slice(0, 500);
    try {
      const e = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (e.error) detail = `${e.error.code}: ${e.error.message}`;
    } catch {
      // not the API's JSON error: shown as it came
    }
    io.err(`export: the server answered ${res.status}: ${detail}\n`);
    return 1;
  }
  const total = Number(res.headers.get('x-export-records') ?? '0');
  const partial = `${s.out}.part`;
  const file = createWriteStream(partial);
  const reader = new TarReader();
  let done = 0;
  let lastShown = -1;
  const show = (final = false) => {
    if (s.quiet) return;
    const step = total === 0 ? 100 : Math.floor((done / total) * 10);
    if (io.tty) io.err(`\r${progressLine(done, total)}${final ? '\n' : ''}`);
    else if (final || step !== lastShown) io.err(`${progressLine(done, total)}\n`);
    lastShown = step;
  };
  show();
  try {
    for await (const chunk of res.body) {
      const bytes = chunk as Uint8Array;
      if (!file.write(bytes)) await new Promise<void>((r) => file.once('drain', () => r()));
      let bundles = 0;
      for (const e of reader.push(bytes)) if (classifyEntry(e.name).kind === 'bundle') bundles++;
      if (bundles > 0) {
        done += bundles;
        show();
      }
    }
    reader.end();
  } catch (e) {
    file.destroy();
    rmSync(partial, { force: true });
    const why = e instanceof TarError ? e.message : (e as Error).message;
    io.err(
      `\nexport: the archive was cut short after ${done} of ${total} records (${why}); nothing written\n`,
    );
    return 1;
  }
  await new Promise<void>((ok, fail) => file.end((err?: Error | null) => (err ? fail(err) : ok())));
  renameSync(partial, s.out);
  show(true);
  io.err(`wrote ${s.out}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runExport(process.argv.slice(2));
}
