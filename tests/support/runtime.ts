/**
 * Test harness for the embedded runtime: in-process (fast, for bad-input cases) or as a real child process
 * (for crash and restart: SIGKILL must be able to hit it at any point).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../lib/logger.js';
import { configFromEnv } from '../../lib/runtime/config.js';
import { type EmbeddedRuntime, startEmbedded } from '../../lib/runtime/embedded.js';

export const REPO = join(import.meta.dirname, '..', '..');

export function tempDir(prefix = 'iotn-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function startInProcess(
  env: Record<string, string> = {},
): Promise<EmbeddedRuntime & { dataDir: string; cleanup(): Promise<void> }> {
  const dataDir = env.DATA_DIR ?? tempDir();
  const config = configFromEnv({
    HTTP_PORT: '0',
    MQTT_PORT: '0',
    ANCHOR_INTERVAL_MS: '600000',
    ...env,
    DATA_DIR: dataDir,
  });
  const rt = await startEmbedded(config, silentLogger);
  return Object.assign(rt, {
    dataDir,
    cleanup: async () => {
      await rt.stop();
      if (!env.DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

export interface RuntimeInfo {
  pid: number;
  /** Absent with MQTT_PORT=off. */
  mqttPort: number;
  /** With TLS_CERT_FILE/TLS_KEY_FILE. */
  mqttsPort?: number;
  httpPort: number;
  baseUrl: string;
}

export interface SpawnedRuntime {
  info: RuntimeInfo;
  token: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `lib/runtime/main.ts` as its own process and waits until it has written runtime.json. `repo` is the
 * checkout to run it from (another one only for before/after comparisons, as `npm run soak -- --against`).
 */
export async function spawnRuntime(
  dataDir: string,
  env: Record<string, string> = {},
  repo = REPO,
): Promise<SpawnedRuntime> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--import', 'tsx', 'lib/runtime/main.ts'],
    {
      cwd: repo,
      env: { ...process.env, HTTP_PORT: '0', MQTT_PORT: '0', LOG_LEVEL: 'warn', ...env, DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const info = await waitFor(
    'runtime.json from the child',
    () => {
      if (child.exitCode !== null) throw new Error(`runtime exited early (${child.exitCode}):\n${out}`);
      const i = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo;
      return i.pid === child.pid ? i : undefined;
    },
    // A deadline, not a speed check: the runtime starts in about 2 s on a quiet machine, and took 43 s at a
    // load average of 18 on 2 cores (shared with other suites), where the former 30 s failed whole files.
    90_000,
  ).catch((err: unknown) => {
    // Otherwise the child outlives the test run: five such runtimes were found still running after one.
    child.kill('SIGKILL');
    throw err;
  });
  const token = readFileSync(join(dataDir, 'operator.token'), 'utf8').trim();
  return { info, token, child, output: () => out, exited };
}

/**
 * Starts `lib/runtime/main.ts` on `dataDir` expecting it to refuse: resolves with its exit code and output once
 * it exits. A runtime that starts instead (writes runtime.json) is stopped and reported as `started`.
 */
export async function runRuntimeUntilExit(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string; started: boolean }> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--import', 'tsx', 'lib/runtime/main.ts'],
    {
      cwd: REPO,
      env: { ...process.env, HTTP_PORT: '0', MQTT_PORT: '0', LOG_LEVEL: 'warn', ...env, DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = waitFor(
    'runtime.json from the child',
    () => {
      if (child.exitCode !== null) return undefined;
      const i = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo;
      return i.pid === child.pid ? true : undefined;
    },
    30_000,
  ).catch(() => false);
  const first = await Promise.race([exited.then(() => 'exited' as const), started]);
  if (first === true) {
    child.kill('SIGTERM');
    return { code: await exited, output: out, started: true };
  }
  return { code: await exited, output: out, started: false };
}

/**
 * Calls with `token` as the bearer and a JSON content type, answering status and parsed body, over any
 * fetch-like `send`: real HTTP (operatorFetch) or a Hono app's request() (api-app.ts).
 */
export function bearerCaller(send: (path: string, init: RequestInit) => Promise<Response>, token: string) {
  return async <T = unknown>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
    const res = await send(path, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...(init.headers ?? {}),
      },
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
}

export function operatorFetch(baseUrl: string, token: string) {
  return bearerCaller((path, init) => fetch(`${baseUrl}${path}`, init), token);
}
