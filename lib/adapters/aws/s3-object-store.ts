/**
 * ObjectStore on S3. The bucket is deployed with versioning on (and Object Lock where a stage asks for it),
 * so put and delete never destroy an earlier version: delete only adds a delete marker.
 *
 * Every put carries x-amz-checksum-sha256, so S3 verifies the bytes it stores. Upload grants are presigned
 * PUTs that sign x-amz-checksum-sha256 and content-length: a body of another length fails the signature
 * (403), and S3 answers BadDigest (400) to bytes whose SHA-256 differs, so a corrupted upload never lands. (s3rver, the
 * emulator the tests use, checks neither; see docs/deploy.md.)
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { sha256 } from '../../core/hash.js';
import type { ObjectStore, Page, StoredObject, UploadGrant } from '../../ports.js';
import { StorageError } from '../../storage-error.js';

export interface S3ObjectStoreOptions {
  s3: S3Client;
  bucket: string;
  /** Signs upload URLs; defaults to `s3`. A different client lets URLs name another endpoint. */
  presigner?: S3Client;
  clock?: () => number;
}

/** S3 allows presigned URLs to live at most 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export class S3ObjectStore implements ObjectStore {
  private readonly s3: S3Client;
  private readonly presigner: S3Client;
  private readonly bucket: string;
  private readonly clock: () => number;

  constructor(opts: S3ObjectStoreOptions) {
    this.s3 = opts.s3;
    this.presigner = opts.presigner ?? opts.s3;
    this.bucket = opts.bucket;
    this.clock = opts.clock ?? Date.now;
  }

  async put(key: string, body: Uint8Array, opts?: { sha256?: Uint8Array }): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: 'application/octet-stream',
        ChecksumSHA256: Buffer.from(opts?.sha256 ?? sha256(body)).toString('base64'),
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    // Programming errors (callers pass offsets and sizes they computed): RangeErrors, here and in presignPut.
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new RangeError('offset and length must be non-negative integers');
    }
    // "bytes=a-b" cannot express an empty range; answer it from the object's existence alone.
    if (length === 0) return (await this.head(key)) ? new Uint8Array(0) : undefined;
    try {
      const out = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: `bytes=${offset}-${offset + length - 1}`,
        }),
      );
      const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
      // Trust the bytes, not the request: a server may answer with more than the range asked for (a 200
      // with the whole object; s3rver 3.7.1 reads "bytes=0-0" as "bytes=0-"). Cut to what was asked.
      const start = out.ContentRange ? contentRangeStart(out.ContentRange) : 0;
      if (start === undefined || start > offset) {
        throw new StorageError(
          'storage-malformed',
          `S3 answered range ${offset}+${length} of ${key} with ${out.ContentRange}`,
        );
      }
      return bytes.subarray(offset - start, offset - start + length);
    } catch (e) {
      if (isMissing(e)) return undefined;
      // 416: the object exists and the range starts at or past its end, which is an empty slice.
      if (httpStatus(e) === 416 || (e as { name?: unknown }).name === 'InvalidRange')
        return new Uint8Array(0);
      throw e;
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: out.ContentLength ?? 0 };
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /**
   * Current versions only: a deleted key (a delete marker on top) is not listed. ListObjects (v1) with
   * Marker = the last key returned is the same query as V2's StartAfter, and works on s3rver, whose truncated
   * V2 answers fail on Node 22 (its continuation tokens use DES, which OpenSSL 3 no longer offers).
   */
  async list(prefix: string, q: { limit: number; cursor?: string }): Promise<Page<StoredObject>> {
    if (q.limit < 1) return { items: [] };
    const limit = Math.min(q.limit, 1000);
    const out = await this.s3.send(
      new ListObjectsCommand({
        Bucket: this.bucket,
        Prefix: prefix,
        MaxKeys: limit,
        ...(q.cursor === undefined ? {} : { Marker: Buffer.from(q.cursor, 'base64url').toString('utf8') }),
      }),
    );
    const items = (out.Contents ?? []).flatMap((o) =>
      o.Key === undefined
        ? []
        : [{ key: o.Key, size: o.Size ?? 0, storedAt: o.LastModified?.getTime() ?? 0 }],
    );
    const last = items.at(-1);
    return out.IsTruncated && last
      ? { items, next: Buffer.from(last.key, 'utf8').toString('base64url') }
      : { items };
  }

  async createUploadUrl(
    key: string,
    opts: { sha256: Uint8Array; size: number; expiresInSeconds: number },
  ): Promise<UploadGrant> {
    if (opts.sha256.length !== 32) throw new RangeError('sha256 must be 32 bytes');
    if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new RangeError('size must be a byte count');
    const expiresIn = Math.min(Math.max(Math.trunc(opts.expiresInSeconds), 1), MAX_PRESIGN_SECONDS);
    const checksum = Buffer.from(opts.sha256).toString('base64');
    const url = await getSignedUrl(
      this.presigner,
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ChecksumSHA256: checksum,
        ContentLength: opts.size,
      }),
      {
        expiresIn,
        // Both stay request headers and are covered by the signature: a device cannot drop the checksum
        // (the presigner would otherwise move it into the query string) or send another length.
        unhoistableHeaders: new Set(['x-amz-checksum-sha256']),
        signableHeaders: new Set(['content-length', 'x-amz-checksum-sha256']),
      },
    );
    return {
      url,
      method: 'PUT',
      // content-length is signed but not listed: every HTTP client sets it from the body, and a body of
      // another length then fails the signature at once (instead of a connection waiting for bytes).
      headers: { 'x-amz-checksum-sha256': checksum },
      expiresAt: this.clock() + expiresIn * 1000,
    };
  }
}

function contentRangeStart(header: string): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header);
  return m ? Number(m[1]) : undefined;
}

function httpStatus(e: unknown): number | undefined {
  const m = (e as { $metadata?: { httpStatusCode?: unknown } }).$metadata;
  return typeof m?.httpStatusCode === 'number' ? m.httpStatusCode : undefined;
}

/** A missing key; a missing bucket is a deployment error and must not read as "no such object". */
function isMissing(e: unknown): boolean {
  const name = (e as { name?: unknown }).name;
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(e) === 404;
}
