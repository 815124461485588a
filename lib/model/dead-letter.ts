/** A refusal kept for an operator: what was refused, why, and (cut short) the bytes refused. */
import { z } from 'zod';
import { absent } from './stored-form.js';

export type DeadLetterSource = 'mqtt' | 'upload' | 'broker';

export interface DeadLetter {
  id: string;
  at: number;
  source: DeadLetterSource;
  /** Stable machine-readable reason, documented in docs/api.md. */
  code: string;
  reason: string;
  deviceId?: string;
  topic?: string;
  clientId?: string;
  seq?: number;
  payloadSize: number;
  /** Hex SHA-256 of the whole payload. */
  payloadSha256: string;
  /** Base64 of the payload, cut at DEAD_LETTER_PAYLOAD_LIMIT bytes. */
  payload: string;
  truncated: boolean;
  /** Network address the refused traffic came from, when the transport knows it (broker, upload endpoint). */
  remoteAddress?: string;
  /**
   * Present only on an aggregate: one entry standing for `count` refusals with the same source, code and
   * key (address or device id) within one summary window, from `firstAt` to `lastAt` (= `at`). An aggregate
   * keeps no payload (`payloadSize` 0). Single refusals carry none of these three fields.
   */
  count?: number;
  firstAt?: number;
  lastAt?: number;
}

export const DEAD_LETTER_PAYLOAD_LIMIT = 16 * 1024;

/** Sets `key` on `target` only when the stored value is there: absent fields stay absent, never undefined. */
function setPresent<T, K extends keyof T>(target: T, key: K, v: T[K] | null | undefined): void {
  if (!absent(v)) target[key] = v;
}

/**
 * A dead letter as stored. The aggregate's count is stored as `aggregateCount`: COUNT is a DynamoDB reserved
 * word, and the name then never needs an alias in an expression.
 */
export const storedDeadLetter = z
  .object({
    id: z.string(),
    at: z.number(),
    source: z.enum(['mqtt', 'upload', 'broker']),
    code: z.string(),
    reason: z.string(),
    payloadSize: z.number(),
    payloadSha256: z.string(),
    payload: z.string(),
    truncated: z.boolean(),
    deviceId: z.string().nullish(),
    topic: z.string().nullish(),
    clientId: z.string().nullish(),
    seq: z.number().nullish(),
    remoteAddress: z.string().nullish(),
    aggregateCount: z.number().nullish(),
    firstAt: z.number().nullish(),
    lastAt: z.number().nullish(),
  })
  .transform((s): DeadLetter => {
    const d: DeadLetter = {
      id: s.id,
      at: s.at,
      source: s.source,
      code: s.code,
      reason: s.reason,
      payloadSize: s.payloadSize,
      payloadSha256: s.payloadSha256,
      payload: s.payload,
      truncated: s.truncated,
    };
    setPresent(d, 'deviceId', s.deviceId);
    setPresent(d, 'topic', s.topic);
    setPresent(d, 'clientId', s.clientId);
    setPresent(d, 'seq', s.seq);
    setPresent(d, 'remoteAddress', s.remoteAddress);
    setPresent(d, 'count', s.aggregateCount);
    setPresent(d, 'firstAt', s.firstAt);
    setPresent(d, 'lastAt', s.lastAt);
    return d;
  })
  .describe('dead letter');
