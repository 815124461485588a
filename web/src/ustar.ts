/**
 * A small reader of POSIX tar archives (ustar, with pax extended headers for long names), enough for the
 * export archive of docs/export.md: regular files and directories. Dependency-free and strict: a bad header
 * checksum, a size or name it cannot read, or an archive that ends before its data are refused with a code,
 * because an archive an auditor drops in may have been cut short or altered.
 */

export interface TarEntry {
  name: string;
  data: Uint8Array;
}

export type TarErrorCode = 'not-a-tar' | 'bad-checksum' | 'bad-header' | 'archive-truncated';
export type TarRead = { ok: true; entries: TarEntry[] } | { ok: false; code: TarErrorCode; message: string };

const BLOCK = 512;

const text = (b: Uint8Array, from: number, len: number): string => {
  const field = b.subarray(from, from + len);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
};

/** An octal number field (NUL or space terminated); undefined if it is not one. */
function octal(b: Uint8Array, from: number, len: number): number | undefined {
  const s = text(b, from, len).trim();
  if (!/^[0-7]{1,12}$/.test(s)) return undefined;
  const n = Number.parseInt(s, 8);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The header checksum: the sum of its bytes with the checksum field itself read as spaces. */
function checksumOf(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
  return sum;
}

/** pax records: "<len> <key>=<value>\n"; only `path` matters here. */
function paxPath(data: Uint8Array): string | undefined {
  const s = new TextDecoder().decode(data);
  let path: string | undefined;
  let at = 0;
  while (at < s.length) {
    const space = s.indexOf(' ', at);
    const len = Number(s.slice(at, space));
    if (space < 0 || !Number.isSafeInteger(len) || len <= 0) return path;
    const record = s.slice(space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    at += len;
  }
  return path;
}

export function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= BLOCK && text(bytes, 257, 5) === 'ustar';
}

export function readTar(bytes: Uint8Array): TarRead {
  if (!isTar(bytes)) return { ok: false, code: 'not-a-tar', message: 'no ustar header at the start' };
  const entries: TarEntry[] = [];
  let off = 0;
  let nextPath: string | undefined;
  for (;;) {
    if (off + BLOCK > bytes.length)
      return { ok: false, code: 'archive-truncated', message: `the archive ends inside a header at ${off}` };
    const h = bytes.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) return { ok: true, entries };
    const sum = octal(h, 148, 8);
    if (sum === undefined || sum !== checksumOf(h))
      return { ok: false, code: 'bad-checksum', message: `the header at byte ${off} fails its checksum` };
    const size = octal(h, 124, 12);
    if (size === undefined)
      return { ok: false, code: 'bad-header', message: `the header at byte ${off} has no readable size` };
    const start = off + BLOCK;
    if (start + size > bytes.length)
      return {
        ok: false,
        code: 'archive-truncated',
        message: `the archive ends inside the data of the entry at byte ${off}`,
      };
    const data = bytes.subarray(start, start + size);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
    const type = String.fromCharCode(h[156] as number);
    if (type === 'x') {
      nextPath = paxPath(data);
      continue;
    }
    const prefix = text(h, 345, 155);
    const name = nextPath ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
    nextPath = undefined;
    if (type === '0' || type === '\0') entries.push({ name, data });
    // Directories, global pax headers and anything else carry no file of the export: skipped.
  }
}
