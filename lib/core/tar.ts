/**
 * POSIX ustar (IEEE Std 1003.1-2001, the `ustar` interchange format): a minimal writer for the export archive
 * (docs/export.md) and a small reader for the verifiers (command line and browser). It has no dependency at
 * all, not even on other lib/core modules or Node's Buffer, so a browser bundle can take it alone.
 *
 * The writer emits regular files only, with fixed mode, owner and names split into ustar's `prefix` and
 * `name` fields; it never needs pax or GNU extensions because every name it writes fits (docs/export.md §2).
 * The reader accepts what any ustar writer produces (POSIX `ustar\0` `00` and GNU's `ustar ` ` \0` magic),
 * reports entry types it does not interpret as `other`, and refuses a damaged header (bad checksum, bad
 * octal) and a truncated archive with a typed error instead of yielding a partial entry.
 */
import { CodedError } from './errors.js';

export const TAR_BLOCK = 512;

/** Most bytes one entry may have for the reader, unless told otherwise: bounds what a hostile archive costs. */
export const DEFAULT_MAX_ENTRY_BYTES = 64 * 1024 * 1024;

export type TarEntryType = 'file' | 'directory' | 'other';

export interface TarEntry {
  /** The full path: `prefix/name` when the header has a prefix. */
  name: string;
  type: TarEntryType;
  /** The header's type flag as a character (`0` file, `5` directory, `x` pax header, ...). */
  typeflag: string;
  size: number;
  /** Modification time, seconds since the Unix epoch. */
  mtime: number;
  data: Uint8Array;
}

export type TarErrorCode = 'tar-malformed' | 'tar-truncated' | 'tar-entry-too-large' | 'tar-name-too-long';

export class TarError extends CodedError<TarErrorCode> {
  override readonly name = 'TarError';
}

const enc = new TextEncoder();
const dec = new TextDecoder();

// ---------------------------------------------------------------- writer

function writeString(h: Uint8Array, at: number, len: number, s: string): void {
  const b = enc.encode(s);
  if (b.length > len)
    throw new TarError('tar-name-too-long', `${JSON.stringify(s)} does not fit ${len} bytes`);
  h.set(b, at);
}

/** An octal number in `len` bytes: `len - 1` zero-padded digits and a NUL, as ustar writes them. */
function writeOctal(h: Uint8Array, at: number, len: number, n: number): void {
  const digits = n.toString(8).padStart(len - 1, '0');
  if (digits.length > len - 1)
    throw new TarError('tar-entry-too-large', `${n} does not fit a ${len}-byte field`);
  writeString(h, at, len - 1, digits);
  h[at + len - 1] = 0;
}

/** Splits a path into ustar's prefix (at most 155 bytes) and name (at most 100) at a `/`. */
function splitName(path: string): { prefix: string; name: string } {
  if (enc.encode(path).length <= 100) return { prefix: '', name: path };
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (enc.encode(prefix).length <= 155 && enc.encode(name).length <= 100 && name.length > 0)
      return { prefix, name };
  }
  throw new TarError('tar-name-too-long', `${JSON.stringify(path)} does not fit a ustar name and prefix`);
}

/** The 512-byte ustar header of a regular file. `mtime` in seconds since the Unix epoch. */
export function tarHeader(path: string, size: number, mtime: number): Uint8Array {
  const h = new Uint8Array(TAR_BLOCK);
  const { prefix, name } = splitName(path);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, Math.max(0, Math.floor(mtime)));
  h.fill(0x20, 148, 156); // the checksum is computed over the header with this field as spaces
  h[156] = 0x30; // '0': regular file
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 345, 155, prefix);
  let sum = 0;
  for (const b of h) sum += b;
  writeString(h, 148, 7, sum.toString(8).padStart(6, '0'));
  h[155] = 0x20; // six digits, NUL, space: what ustar writers traditionally emit
  h[154] = 0;
  return h;
}

/** Zero bytes that pad an entry of `size` bytes to a whole block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
}

/** The end of an archive: two zero blocks. */
export const tarTrailer = (): Uint8Array => new Uint8Array(2 * TAR_BLOCK);

/** One whole entry (header, data, padding) as the parts to write, in order. */
export function tarEntry(path: string, data: Uint8Array, mtime: number): Uint8Array[] {
  return [tarHeader(path, data.length, mtime), data, tarPadding(data.length)];
}

// ---------------------------------------------------------------- reader

function readString(h: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && h[end] !== 0) end++;
  return dec.decode(h.subarray(at, end));
}

function readOctal(h: Uint8Array, at: number, len: number, field: string): number {
  const s = readString(h, at, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError('tar-malformed', `header field ${field} is not octal`);
  const n = Number.parseInt(s, 8);
  if (!Number.isSafeInteger(n)) throw new TarError('tar-malformed', `header field ${field} is too large`);
  return n;
}

const isZeroBlock = (b: Uint8Array) => b.every((x) => x === 0);

function parseHeader(h: Uint8Array): Omit<TarEntry, 'data'> {
  const magic = readString(h, 257, 6).trimEnd();
  if (magic !== 'ustar') throw new TarError('tar-malformed', 'not a ustar header (no "ustar" magic)');
  const stored = readOctal(h, 148, 8, 'chksum');
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
  if (sum !== stored) throw new TarError('tar-malformed', 'header checksum does not match');
  const name = readString(h, 0, 100);
  const prefix = readString(h, 345, 155);
  const flag = h[156] === 0 ? '0' : String.fromCharCode(h[156] as number);
  return {
    name: prefix ? `${prefix}/${name}` : name,
    type: flag === '0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : 'other',
    typeflag: flag,
    size: readOctal(h, 124, 12, 'size'),
    mtime: readOctal(h, 136, 12, 'mtime'),
  };
}

/**
 * An incremental reader: `push` bytes as they arrive (any chunking), get back the entries completed by them;
 * `end` when the input is over, which refuses an archive cut short. Memory is one entry plus one chunk.
 */
export class TarReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private pending: Omit<TarEntry, 'data'> | undefined;
  private ended = false;
  private readonly maxEntryBytes: number;

  constructor(opts: { maxEntryBytes?: number } = {}) {
    this.maxEntryBytes = opts.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
  }

  /** Whether the end-of-archive blocks were read (later bytes are ignored, as tar does). */
  get done(): boolean {
    return this.ended;
  }

  push(chunk: Uint8Array): TarEntry[] {
    const out: TarEntry[] = [];
    if (this.ended || chunk.length === 0) return out;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (!this.pending) {
        if (this.buffered < TAR_BLOCK) return out;
        const block = this.take(TAR_BLOCK);
        if (isZeroBlock(block)) {
          // The first zero block ends the archive (the second is padding a writer adds).
          this.ended = true;
          this.chunks = [];
          this.buffered = 0;
          return out;
        }
        const header = parseHeader(block);
        if (header.size > this.maxEntryBytes)
          throw new TarError(
            'tar-entry-too-large',
            `${header.name} is ${header.size} bytes, more than the ${this.maxEntryBytes} allowed`,
          );
        this.pending = header;
      }
      const padded = this.pending.size + ((TAR_BLOCK - (this.pending.size % TAR_BLOCK)) % TAR_BLOCK);
      if (this.buffered < padded) return out;
      const data = this.take(padded).slice(0, this.pending.size);
      out.push({ ...this.pending, data });
      this.pending = undefined;
    }
  }

  /** The input is over: throws `tar-truncated` unless the archive's end blocks were read. */
  end(): void {
    if (!this.ended)
      throw new TarError(
        'tar-truncated',
        this.pending
          ? `the archive ends inside ${this.pending.name}`
          : 'the archive ends without its end-of-archive blocks',
      );
  }

  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0] as Uint8Array;
    let out: Uint8Array;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0] as Uint8Array;
        const k = Math.min(c.length, n - at);
        out.set(c.subarray(0, k), at);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}

/** Every entry of an archive held whole in memory. */
export function* readTar(bytes: Uint8Array, opts: { maxEntryBytes?: number } = {}): Generator<TarEntry> {
  const r = new TarReader(opts);
  // Block-sized steps keep each push's result small: entries come out as soon as they are complete.
  const step = 1024 * 1024;
  for (let at = 0; at < bytes.length && !r.done; at += step) yield* r.push(bytes.subarray(at, at + step));
  r.end();
}

/** Every entry of an archive read as a stream of chunks (a file, a fetch body, a browser File's stream). */
export async function* readTarStream(
  chunks: AsyncIterable<Uint8Array>,
  opts: { maxEntryBytes?: number } = {},
): AsyncGenerator<TarEntry> {
  const r = new TarReader(opts);
  for await (const chunk of chunks) {
    yield* r.push(chunk);
    if (r.done) break;
  }
  r.end();
}
