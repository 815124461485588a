/**
 * A stage's chains, budgets and finality policy, from the environment of `sst deploy`: the ANCHOR_*,
 * EMBEDDED_*, EVM_* and BIGBANG_* variables (docs/chains.md §9) are checked here with the runtime's own
 * parser, so a typo fails the deploy instead of the first anchor cycle, and handed to the functions as they
 * are. The EVM private key is never one of them: it reaches the anchor function only as the EvmKeyWrapped
 * secret (a KMS ciphertext, see docs/deploy.md), and the parser refuses a plaintext EVM_PRIVATE_KEY.
 */
import { chainConfigFromEnv } from '../lib/runtime/chain-config.js';

const PASSED =
  /^(ANCHOR_(CHAINS|TARGET_MS|MIN_INTERVAL_MS|RETRY_BASE_MS|RETRY_MAX_MS)|EMBEDDED_\w+|EVM_\w+|BIGBANG_\w+)$/;

const UNIT_MS: Record<string, number> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** The period of an EventBridge `rate(...)` expression in ms; a `cron(...)` is taken as one minute. */
export function scheduleIntervalMs(schedule: string): number {
  const m = /^rate\((\d+) (minutes?|hours?|days?)\)$/.exec(schedule);
  if (!m) return 60_000;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

export function chainEnvironment(
  env: Record<string, string | undefined>,
  anchorSchedule: string,
): Record<string, string> {
  const out: Record<string, string> = { ANCHOR_INTERVAL_MS: String(scheduleIntervalMs(anchorSchedule)) };
  for (const [k, v] of Object.entries(env)) {
    // *_FILE names a file on the embedded runtime's disk; a Lambda has none.
    if (PASSED.test(k) && !k.endsWith('_FILE') && v !== undefined && v !== '') out[k] = v;
  }
  const checked = chainConfigFromEnv(out, {
    dataDir: '.',
    anchorIntervalMs: Number(out.ANCHOR_INTERVAL_MS),
    keys: 'kms-wrapped',
  });
  if (!checked.ok) throw new Error(`chain configuration: ${checked.message}`);
  if (checked.config.chains.some((c) => c.inline)) throw new Error('inline packets are embedded-only');
  // The verify function looks EVM transactions up watch-only: it needs the wallet, never the key.
  if (checked.config.chains.some((c) => c.kind === 'evm' && c.address === undefined)) {
    throw new Error('chain configuration: EVM_ADDRESS is required with evm (the verify function needs it)');
  }
  return out;
}

/**
 * Whether the chains `chainEnvironment` returned include EVM: only then does the anchor function hold a
 * wrapped EVM key, and only then does it get kms:Decrypt (infra/permissions.ts ANCHOR_EVM_KEY_GRANT).
 */
export function anchorsToEvm(chainEnv: Record<string, string>): boolean {
  return (chainEnv.ANCHOR_CHAINS ?? 'embedded')
    .split(',')
    .map((k) => k.trim())
    .includes('evm');
}
