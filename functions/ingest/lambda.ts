/**
 * The ingest function as an AWS IoT rule action. Each rule (infra/routing.ts, from lib/routing/routes.ts)
 * selects `encode(*, 'base64') AS payload, topic() AS topic, clientid() AS clientId, timestamp() AS
 * receivedAt`; this edge validates that event, hands the decoded message to the same handler the embedded
 * MQTT router calls, and publishes the replies through AWS IoT.
 *
 * The rule invokes Lambda asynchronously: an invocation may be retried or arrive out of order, which ingest
 * already tolerates (idempotent on (device, seq), order-free). A thrown error makes Lambda retry; a message
 * that will never be valid is answered and dead-lettered instead.
 */
import { z } from 'zod';
import { isBase64, utf8 } from '../../lib/core/bytes.js';
import { recordDeadLetter } from '../../lib/ingest/dead-letter.js';
import type { Logger } from '../../lib/logger.js';
import type { Metrics } from '../../lib/metrics.js';
import type { DeadLetterStore, ReplyPublisher } from '../../lib/ports.js';
import { MQTT_MAX_MESSAGE_BYTES, withoutBasicIngestPrefix } from '../../lib/routing/routes.js';
import { buildIngest, fromEnv } from '../../lib/runtime/aws.js';
import type { LambdaTools } from '../../lib/runtime/lambda-edge.js';
import { defineLambda } from '../edge/define-lambda.js';
import type { DeviceMessageEvent, OutgoingMessage } from './handler.js';

export interface IngestLambdaDeps {
  ingest: (event: DeviceMessageEvent) => Promise<OutgoingMessage[]>;
  publisher: ReplyPublisher;
  deadLetters: DeadLetterStore;
  clock: () => number;
  log: Logger;
  /** What `ingest` counts too: here, the refused events that never reach it. */
  metrics: Metrics;
}

/**
 * AWS IoT refuses messages over 128 KiB at the broker, so base64 over ~171 KiB cannot come from a device.
 * The bound leaves room for larger payloads to reach ingest (which refuses them per route, with
 * `payload-too-large`, like the embedded runtime) while keeping a malformed event from costing memory.
 */
export const MAX_EVENT_PAYLOAD_BASE64 = 4 * Math.ceil((2 * MQTT_MAX_MESSAGE_BYTES) / 3);

/** What iotRuleSql() selects. Strict: a field the SQL does not produce means the rule and code drifted. */
export const IotRuleEvent = z.strictObject({
  payload: z
    .string()
    .max(MAX_EVENT_PAYLOAD_BASE64)
    // zod runs this check even when .max() failed; a loop stays linear where a regex overflowed the stack.
    .refine(isBase64, 'must be base64'),
  topic: z.string().min(1).max(256),
  clientId: z.string().max(128).optional(),
  receivedAt: z.number().int().nonnegative(),
});
export type IotRuleEvent = z.infer<typeof IotRuleEvent>;

export type IngestLambdaResult =
  | { status: 'handled'; replies: OutgoingMessage[] }
  | { status: 'rejected'; code: 'malformed-event'; reason: string };

export function createIngestLambda(load: (tools: LambdaTools) => Promise<IngestLambdaDeps>) {
  return defineLambda({
    service: 'ingest',
    // Our own schema: an IoT rule's event is whatever its SQL selects, so Powertools has none for it.
    schema: IotRuleEvent,
    load,
    invalid: async (raw, reason, edge): Promise<IngestLambdaResult> => {
      const d = await edge.deps();
      const text = safeJson(raw);
      const fields = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
      await recordDeadLetter(d.deadLetters, d.clock(), {
        source: 'broker',
        code: 'malformed-event',
        reason: `the IoT rule event is not what iotRuleSql() selects: ${reason}`,
        // The whole event (Lambda bounds its size); recordDeadLetter keeps the first 16 KiB and the hash.
        payload: utf8(text),
        ...(typeof fields.topic === 'string' && fields.topic.length <= 256 ? { topic: fields.topic } : {}),
        ...(typeof fields.clientId === 'string' && fields.clientId.length <= 128
          ? { clientId: fields.clientId }
          : {}),
      });
      d.metrics.add('RecordsRefused', 1);
      d.log.error('malformed IoT rule event dead-lettered', { code: 'malformed-event', reason });
      return { status: 'rejected', code: 'malformed-event', reason };
    },
    handler: async (event, d): Promise<IngestLambdaResult> => {
      const payload = Buffer.from(event.payload, 'base64');
      const replies = await d.ingest({
        // A Basic Ingest publish (`$aws/rules/<rule>/devices/…`) reaches the rule with the prefix already
        // gone from topic(), as AWS documents; stripping it here too keeps both forms one route if it ever
        // arrives (docs/deploy.md, "Basic Ingest").
        topic: withoutBasicIngestPrefix(event.topic),
        payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
        ...(event.clientId === undefined ? {} : { clientId: event.clientId }),
      });
      // Stored before acked: if publishing fails the invocation fails, Lambda retries it, ingest answers
      // duplicate, and the device gets its ack then (or resends, and gets it then).
      await d.publisher.publish(replies);
      return { status: 'handled', replies };
    },
  });
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export const handler = createIngestLambda(fromEnv(buildIngest));
