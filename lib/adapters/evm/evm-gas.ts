/**
 * Gas of an anchor transaction: a 0-value call to an account without code, so the intrinsic cost is all
 * of it. Pure, for budgets and cost reports; the adapter itself still asks the node (eth_estimateGas), which
 * knows the chain's own rules (L2s add an L1 data fee on top, reported in their receipts).
 *
 *   before Prague (EIP-2028):  21,000 + 16 per non-zero byte + 4 per zero byte
 *   from Prague  (EIP-7623):   max(that, 21,000 + 10 × tokens), tokens = zero bytes + 4 × non-zero bytes
 *
 * So under EIP-7623 a data-only transaction pays 40 gas per non-zero byte: 22,800 gas for the 45-byte
 * anchor payload (23,000 worst case), against 21,720 before.
 */

export const TX_BASE_GAS = 21_000;

export function calldataGas(data: Uint8Array, opts: { eip7623: boolean }): number {
  let zero = 0;
  for (const b of data) if (b === 0) zero++;
  const nonZero = data.length - zero;
  const standard = TX_BASE_GAS + 16 * nonZero + 4 * zero;
  if (!opts.eip7623) return standard;
  return Math.max(standard, TX_BASE_GAS + 10 * (zero + 4 * nonZero));
}

/** Worst case for `bytes` bytes of data (all non-zero), for budgeting before the bytes exist. */
export function calldataGasUpperBound(bytes: number, opts: { eip7623: boolean }): number {
  return TX_BASE_GAS + (opts.eip7623 ? 40 : 16) * bytes;
}
