/** Unsigned 64-bit big-endian fields, limited to JavaScript's safe integers (2^53 - 1). */
export function u64be(n: number): Uint8Array {
  // Programming errors throw RangeError in this file (callers pass counters and times they hold).
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a non-negative safe integer`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** Reads a u64; undefined when it exceeds 2^53 - 1, which no valid field does. */
export function readU64be(view: DataView, offset: number): number | undefined {
  const v = view.getBigUint64(offset);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(v);
}
