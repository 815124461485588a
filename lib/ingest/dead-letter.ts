import { toBase64, toHex } from '../core/bytes.js';
import { sha256 } from '../core/hash.js';
import { newId } from '../core/ids.js';
import {
  DEAD_LETTER_PAYLOAD_LIMIT,
  type DeadLetter,
  type DeadLetterSource,
  type DeadLetterStore,
} from '../ports.js';

/** Keeps a refused message where operators can list it (GET /v1/dead-letters), payload cut at the limit. */
export async function recordDeadLetter(
  store: DeadLetterStore,
  at: number,
  info: {
    source: DeadLetterSource;
    code: string;
    reason: string;
    payload?: Uint8Array;
    topic?: string;
    clientId?: string;
    deviceId?: string;
    seq?: number;
    remoteAddress?: string;
  },
): Promise<DeadLetter> {
  const payload = info.payload ?? new Uint8Array(0);
  const truncated = payload.length > DEAD_LETTER_PAYLOAD_LIMIT;
  const d: DeadLetter = {
    id: newId(at, 'dl-'),
    at,
    source: info.source,
    code: info.code,
    reason: info.reason,
    payloadSize: payload.length,
    payloadSha256: toHex(sha256(payload)),
    payload: toBase64(truncated ? payload.subarray(0, DEAD_LETTER_PAYLOAD_LIMIT) : payload),
    truncated,
  };
  if (info.topic !== undefined) d.topic = info.topic;
  if (info.clientId !== undefined) d.clientId = info.clientId;
  if (info.deviceId !== undefined) d.deviceId = info.deviceId;
  if (info.seq !== undefined) d.seq = info.seq;
  if (info.remoteAddress !== undefined) d.remoteAddress = info.remoteAddress;
  await store.putDeadLetter(d);
  return d;
}
