/**
 * BigBang Core's fee rule, amounts and size limit, as pure functions.
 *
 * CalcMinTxFee (struct.h): with MIN = 0.01 BBC and m = ceil(n / 200) for n bytes of vchData,
 *   m <= 5: MIN + 2·m·MIN        (n = 0 gives MIN)
 *   m >  5: MIN + 10·MIN + 4·(m − 5)·MIN
 * so a 45-byte anchor payload in 21 bytes of vchData framing pays 0.03 BBC, and the fee rises in steps of
 * 200 bytes, twice as steeply past 1,000 bytes.
 *
 * All arithmetic is in integer units (COIN = 1,000,000 units per BBC); the RPC speaks JSON numbers with six
 * decimals, converted only at the edge.
 */

export const COIN = 1_000_000;
/** 0.01 BBC. */
export const MIN_TX_FEE_UNITS = 10_000;
/** Largest serialised transaction a node accepts (bytes). */
export const MAX_TX_SIZE = 100_000;

export function calcMinTxFee(vchDataBytes: number, minFee: number = MIN_TX_FEE_UNITS): number {
  // Programming errors throw RangeError in this file (sizes and amounts are computed by the adapter).
  if (!Number.isSafeInteger(vchDataBytes) || vchDataBytes < 0)
    throw new RangeError('byte count must be >= 0');
  const m = Math.ceil(vchDataBytes / 200);
  return m <= 5 ? minFee + 2 * m * minFee : minFee + 10 * minFee + 4 * (m - 5) * minFee;
}

/** Units → the JSON number the RPC takes (BBC). Exact for every amount below 2^53 units. */
export function unitsToCoins(units: number): number {
  if (!Number.isSafeInteger(units) || units < 0)
    throw new RangeError('amount must be a non-negative integer');
  return units / COIN;
}

/** Units → the node's six-decimal text, e.g. 30000 → "0.030000". */
export function formatCoins(units: number): string {
  if (!Number.isSafeInteger(units) || units < 0)
    throw new RangeError('amount must be a non-negative integer');
  const whole = Math.floor(units / COIN);
  return `${whole}.${String(units % COIN).padStart(6, '0')}`;
}

/**
 * A JSON number from the node → units, or undefined when it is not a non-negative amount with at most six
 * decimals (a malformed response, not something to round away).
 */
export function coinsToUnits(coins: unknown): number | undefined {
  if (typeof coins !== 'number' || !Number.isFinite(coins) || coins < 0) return undefined;
  const units = Math.round(coins * COIN);
  // Floating error of coins·COIN stays far below a thousandth of a unit; a seventh decimal does not.
  if (!Number.isSafeInteger(units) || Math.abs(units - coins * COIN) > Math.max(1e-3, units * 1e-15))
    return undefined;
  return units;
}

/** Bitcoin-style compact size, as BigBang's streams write vector lengths. */
function compactSize(n: number): number {
  return n < 253 ? 1 : n <= 0xffff ? 3 : 5;
}

/**
 * Serialised size of a token transaction: version 2 + type 2 + time 4 + lockuntil 4 + anchor 32
 * + vin (count + 33 per input) + sendTo 33 + amount 8 + fee 8 + vchData (length + bytes) + signature
 * (length + 64 for a pubkey address). The wallet chooses the inputs, so callers pass a pessimistic count.
 */
export function estimateTxSize(vchDataBytes: number, inputs: number, signatureBytes = 64): number {
  return (
    93 +
    compactSize(inputs) +
    33 * inputs +
    compactSize(vchDataBytes) +
    vchDataBytes +
    compactSize(signatureBytes) +
    signatureBytes
  );
}

/** Largest vchData that still fits MAX_TX_SIZE with `inputs` inputs. */
export function maxVchDataBytes(inputs: number, signatureBytes = 64): number {
  let n = MAX_TX_SIZE - estimateTxSize(0, inputs, signatureBytes) + 1;
  while (n > 0 && estimateTxSize(n, inputs, signatureBytes) > MAX_TX_SIZE) n--;
  return n;
}
