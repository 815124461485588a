/**
 * Object store on the local filesystem: one file per object under `root`, written to a temporary name, fsynced
 * and renamed, so an object is either absent or complete, and present after a crash once put() resolved.
 * Directory fsyncs (needed for the rename itself to survive power loss) are coalesced per directory.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { toHex } from '../../core/bytes.js';
import type { ObjectStore, UploadGrant } from '../../ports.js';

const KEY_RE = /^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*)(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;

export function assertObjectKey(key: string): void {
  if (!KEY_RE.test(key) || key.split('/').some((p) => p === '..' || p === '.')) {
    throw new RangeError(`invalid object key ${JSON.stringify(key)}`);
  }
}

export interface FileObjectStoreOptions {
  root: string;
  /** fsync files and directories before put() resolves. Only tests and benches turn it off. */
  durable?: boolean;
  /** Base URL of the runtime's HTTP server, for upload URLs, e.g. http://127.0.0.1:8080. */
  uploadBaseUrl?: () => string;
  /** HMAC key that signs upload URLs. */
  uploadSecret?: Uint8Array;
  /** The clock the upload endpoint checks expiry against. */
  clock?: () => number;
}

export class FileObjectStore implements ObjectStore {
  private readonly root: string;
  private readonly durable: boolean;
  private readonly dirSyncs = new Map<string, Promise<void>>();
  private readonly madeDirs = new Set<string>();

  constructor(private readonly opts: FileObjectStoreOptions) {
    this.root = opts.root;
    this.durable = opts.durable ?? true;
  }

  private pathOf(key: string): string {
    assertObjectKey(key);
    return join(this.root, key);
  }

  async put(key: string, body: Uint8Array, _opts: { sha256: Uint8Array }): Promise<void> {
    const path = this.pathOf(key);
    const dir = dirname(path);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o640);
    try {
      await fh.writeFile(body);
      if (this.durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    if (this.durable) await this.syncDir(dir);
  }

  /** One fsync of a directory covers every rename into it that happened before the fsync started. */
  private syncDir(dir: string): Promise<void> {
    const pending = this.dirSyncs.get(dir);
    if (pending) return pending;
    const p = new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.dirSyncs.delete(dir);
        open(dir, 'r')
          .then(async (fh) => {
            try {
              await fh.sync();
            } finally {
              await fh.close();
            }
          })
          .then(resolve, reject);
      });
    });
    this.dirSyncs.set(dir, p);
    return p;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(this.pathOf(key), 'r');
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    try {
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.pathOf(key));
      // A key that is only a prefix of other keys is a directory here, and no object (as in S3).
      return s.isFile() ? { size: s.size } : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async createUploadUrl(
    key: string,
    opts: { sha256: Uint8Array; size: number; expiresInSeconds: number },
  ): Promise<UploadGrant> {
    assertObjectKey(key);
    const { uploadBaseUrl, uploadSecret } = this.opts;
    if (!uploadBaseUrl || !uploadSecret)
      throw new Error('this FileObjectStore was built without an upload endpoint');
    const expiresAt = (this.opts.clock ?? Date.now)() + opts.expiresInSeconds * 1000;
    const sha = toHex(opts.sha256);
    const sig = signUpload(uploadSecret, { key, sha256: sha, size: opts.size, expiresAt });
    const q = new URLSearchParams({ key, sha256: sha, size: String(opts.size), exp: String(expiresAt), sig });
    return {
      url: `${uploadBaseUrl()}/v1/uploads?${q.toString()}`,
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-content-sha256': sha },
      expiresAt,
    };
  }
}

export interface UploadClaims {
  key: string;
  sha256: string;
  size: number;
  expiresAt: number;
}

export function signUpload(secret: Uint8Array, c: UploadClaims): string {
  return createHmac('sha256', secret)
    .update(`PUT\n${c.key}\n${c.sha256}\n${c.size}\n${c.expiresAt}`)
    .digest('base64url');
}

export function uploadSignatureValid(secret: Uint8Array, c: UploadClaims, sig: string): boolean {
  const want = Buffer.from(signUpload(secret, c));
  const got = Buffer.from(sig);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** ENOENT, or EISDIR: a key that is only a prefix of other keys names a directory, not an object. */
function isNotFound(e: unknown): boolean {
  if (typeof e !== 'object' || e === null || !('code' in e)) return false;
  const code = (e as { code: unknown }).code;
  return code === 'ENOENT' || code === 'EISDIR';
}
