/**
 * Python's moto (`python3 -m moto.server`), started as a child process on a free loopback port and killed
 * after: a real emulator of the AWS APIs, used where our own stand-ins would otherwise guess (KMS symmetric
 * keys and their encryption context, the IoT control plane). Where moto is not installed the suites that
 * need it are skipped, and say so loudly on the console: `motoOrWarn` names what is not run and why.
 *
 * What moto 5.2.1 does not do, as found on this machine: KMS keys of spec ECC_NIST_EDWARDS25519 (refused
 * with ValidationException), key policies (a Deny is not enforced), IncorrectKeyException (it answers a
 * Decrypt whose KeyId names another key with AccessDeniedException). docs/deploy.md lists them.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

export interface RunningMoto {
  endpoint: string;
  close(): Promise<void>;
}

let probed: { ok: true } | { ok: false; reason: string } | undefined;

/** Whether `python3 -c 'import moto'` works here; asked once per test file. */
export function probeMoto(): { ok: true } | { ok: false; reason: string } {
  if (probed) return probed;
  const r = spawnSync('python3', ['-c', 'import moto, sys; sys.stdout.write(moto.__version__)'], {
    encoding: 'utf8',
  });
  if (r.error) probed = { ok: false, reason: `python3 cannot be run: ${r.error.message}` };
  else if (r.status !== 0)
    probed = { ok: false, reason: `python3 cannot import moto: ${r.stderr.trim().split('\n').at(-1)}` };
  else probed = { ok: true };
  return probed;
}

/**
 * True when moto is there; otherwise false, after a warning naming the skipped suite and the reason, so a
 * machine without moto never passes these suites silently.
 */
export function motoOrWarn(what: string): boolean {
  const p = probeMoto();
  if (p.ok) return true;
  console.warn(
    `\n*** SKIPPED: ${what} ***\n*** moto is absent (${p.reason}); install it with \`pip install 'moto[server]'\` ` +
      'to run these tests against an AWS emulator. ***\n',
  );
  return false;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const address = srv.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitUntilUp(endpoint: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`moto.server exited with ${child.exitCode} before answering`);
    try {
      // moto's own dashboard reset endpoint answers once the server is up.
      const r = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
      await r.arrayBuffer();
      return;
    } catch {
      if (Date.now() > until) throw new Error(`moto.server did not answer on ${endpoint}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }
}

export async function startMoto(): Promise<RunningMoto> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    // Its own process group, so closing kills moto and anything it forked, and nothing else.
    const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4_000);
    });
    const close = async () => {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 3_000);
      await exited;
      clearTimeout(timer);
    };
    try {
      await waitUntilUp(endpoint, child, 30_000);
      return { endpoint, close };
    } catch (e) {
      await close();
      // The port was free when asked, but another process may have taken it before moto bound it.
      if (attempt < 2 && /Address already in use/.test(stderr)) continue;
      throw new Error(`${(e as Error).message}\n${stderr}`);
    }
  }
}
