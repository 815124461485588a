/**
 * A streaming multipart/form-data reader (RFC 7578 over RFC 2046), for Kubo's `add`: each part's body is
 * handed to the importer as it arrives, so a large file never sits in memory and the request's size is not
 * capped by RAM.
 *
 * Pull-based: the caller takes the parts in order and must finish (or abandon) one part's body before asking
 * for the next; an abandoned body is skipped. Part headers are capped, since they are buffered.
 */
import { CodedError } from '../../core/errors.js';
import type { KuboServerErrorCode } from './kubo-command-error.js';

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
export const MAX_PART_HEADER_BYTES = 16 * 1024;

export class MultipartError extends CodedError<KuboServerErrorCode> {
  override readonly name = 'MultipartError';
  constructor(message: string) {
    super('multipart-malformed', message);
  }
}

export interface MultipartPart {
  /** The form field name without Kubo's `?mode=…&mtime=…` suffix: `file`, `file-1`, `dir`, … */
  field: string;
  /** Decoded filename; '' when the client sent an empty one (kubo-rpc-client does for unnamed content). */
  filename?: string;
  contentType?: string;
  /** Header names lowercased. */
  headers: ReadonlyMap<string, string>;
  body: AsyncIterable<Uint8Array>;
}

/** The boundary of a `multipart/form-data; boundary=…` content type, or undefined. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = contentType.split(';');
  if (type?.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'boundary') continue;
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    // RFC 2046: 1 to 70 characters.
    return v.length >= 1 && v.length <= 70 ? v : undefined;
  }
  return undefined;
}

/** Buffered reads over a byte stream, with "up to a delimiter" as the one operation. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }

  /** Exactly n bytes, or fewer at the end of the stream. */
  async take(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.fill()));
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** Everything before `delim`, consuming the delimiter too; throws past `max` bytes or at the end. */
  async until(delim: Buffer, max: number): Promise<Buffer> {
    let from = 0;
    for (;;) {
      const i = this.buf.indexOf(delim, from);
      if (i >= 0) {
        const out = this.buf.subarray(0, i);
        this.buf = this.buf.subarray(i + delim.length);
        return out;
      }
      if (this.buf.length > max) throw new MultipartError('multipart section too long');
      from = Math.max(0, this.buf.length - delim.length + 1);
      if (!(await this.fill())) throw new MultipartError('unexpected end of multipart body');
    }
  }

  /**
   * Streams everything before `delim`, then consumes the delimiter. Holds back the last delim.length - 1
   * bytes of each read: they could be the start of a delimiter split across two chunks.
   */
  async *streamUntil(delim: Buffer): AsyncGenerator<Uint8Array> {
    let from = 0;
    for (;;) {
      const i = this.buf.indexOf(delim, from);
      if (i >= 0) {
        if (i > 0) yield this.buf.subarray(0, i);
        this.buf = this.buf.subarray(i + delim.length);
        return;
      }
      const safe = this.buf.length - (delim.length - 1);
      if (safe > 0) {
        const out = this.buf.subarray(0, safe);
        this.buf = this.buf.subarray(safe);
        yield out;
      }
      from = 0;
      if (!(await this.fill())) throw new MultipartError('unexpected end of multipart body');
    }
  }
}

function parseHeaders(raw: Buffer): Map<string, string> {
  const headers = new Map<string, string>();
  if (raw.length === 0) return headers;
  for (const line of raw.toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`malformed part header ${JSON.stringify(line.slice(0, 80))}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** `name` and `filename` of a Content-Disposition value (quoted-string values, backslash escapes). */
function dispositionParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /;\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const key = (m[1] ?? '').toLowerCase();
    const v = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    params.set(key, v);
  }
  return params;
}

function decodeFilename(raw: string): string {
  // kubo-rpc-client and Kubo's own CLI percent-encode the path; Kubo decodes it the same way.
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export async function* parseMultipart(
  source: AsyncIterable<Uint8Array>,
  boundary: string,
): AsyncGenerator<MultipartPart> {
  const reader = new Reader(source);
  const dashBoundary = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.concat([CRLF, dashBoundary]);
  // The first boundary may open the body directly (no CRLF before it); anything before it is preamble.
  await reader.until(dashBoundary, 64 * 1024);
  for (;;) {
    const after = await reader.take(2);
    if (after.toString('latin1') === '--') return;
    if (!after.equals(CRLF)) throw new MultipartError('malformed multipart boundary line');
    const first = await reader.take(2);
    const rawHeaders = first.equals(CRLF)
      ? Buffer.alloc(0)
      : Buffer.concat([first, await reader.until(HEADER_END, MAX_PART_HEADER_BYTES)]);
    const headers = parseHeaders(rawHeaders);
    const disposition = dispositionParams(headers.get('content-disposition') ?? '');
    const name = disposition.get('name') ?? '';
    const filename = disposition.get('filename');
    const contentType = headers.get('content-type');
    const body = reader.streamUntil(delimiter);
    let handedOut = false;
    const part: MultipartPart = {
      field: name.split('?')[0] ?? '',
      ...(filename === undefined ? {} : { filename: decodeFilename(filename) }),
      ...(contentType === undefined ? {} : { contentType }),
      headers,
      body: {
        [Symbol.asyncIterator]: () => {
          if (handedOut) throw new MultipartError('a part body can be read once');
          handedOut = true;
          // A consumer that stops early must not close the stream under the parser, which still has to find
          // the next boundary: return() is a no-op, and the rest is skipped below.
          return {
            next: () => body.next(),
            return: async () => ({ done: true as const, value: undefined }),
          };
        },
      },
    };
    yield part;
    for (let r = await body.next(); !r.done; r = await body.next());
  }
}
