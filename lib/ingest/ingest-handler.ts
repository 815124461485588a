/**
 * The ingest function: one device message in, the MQTT replies out, with its logs, metrics and the
 * record-stored hook. The embedded router (lib/runtime/mqtt-router.ts) calls it with what the broker
 * delivered; the Lambda entry point (functions/ingest/lambda.ts, an AWS IoT rule action) with the rule's
 * event. Both composition roots build it, so it lives in lib/ (lib never imports functions/). Validation of
 * the message itself, and everything after, is device-message.ts.
 */
import { z } from 'zod';
import type { Logger } from '../logger.js';
import type { MetricName, Metrics } from '../metrics.js';
import { DEVICE_ROUTES, matchRoute } from '../routing/routes.js';
import {
  type DeviceMessageDeps,
  encodeReplies,
  type HandledMessage,
  handleDeviceMessage,
  type Reply,
} from './device-message.js';

export const DeviceMessageEvent = z.strictObject({
  topic: z.string().min(1).max(256),
  payload: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'payload must be bytes'),
  clientId: z.string().max(128).optional(),
});
export type DeviceMessageEvent = z.infer<typeof DeviceMessageEvent>;

export interface OutgoingMessage {
  topic: string;
  payload: string;
}

/** A record that is durably in the index after this message: just stored, or found already stored. */
export interface StoredRecordRef {
  recordId: string;
  deviceId: string;
  seq: number;
  /** Name of the route it came in by (lib/routing/routes.ts). */
  route: string;
  status: 'stored' | 'duplicate';
}

/**
 * Which record figure a handled device message counts in (lib/metrics.ts): records stored and duplicate, and
 * every refused message, a head or key rotation included. A head or rotation stored is not a record (no
 * figure), nor is an upload grant.
 */
export function outcomeMetric(o: HandledMessage['outcome']): MetricName | undefined {
  switch (o.status) {
    case 'rejected':
    case 'dropped':
      return 'RecordsRefused';
    case 'granted':
    case 'packed':
      return undefined;
    case 'stored':
    case 'duplicate':
      if ('kind' in o) return undefined;
      return o.status === 'stored' ? 'RecordsStored' : 'RecordsDuplicate';
  }
}

/**
 * One message in, its replies out as values. The embedded router uses this directly and encodes the replies
 * of a whole event-loop turn together, so a device gets one ack message for many records.
 */
export function createDeviceMessageHandler(
  deps: DeviceMessageDeps & {
    log: Logger;
    /**
     * Runs once the record is in the index and before its ack goes out, for redeliveries too: a hook that
     * failed (the message then throws and is not acked) runs again when the device resends. The embedded
     * runtime queues IPFS pin jobs here (lib/runtime/embedded-ipfs.ts).
     */
    onRecordStored?: (r: StoredRecordRef) => Promise<void>;
    /** Stored, duplicate and refused records (lib/metrics.ts); the Lambda edge hands it in. */
    metrics?: Metrics;
  },
) {
  return async (event: DeviceMessageEvent): Promise<Reply[]> => {
    const msg = DeviceMessageEvent.parse(event);
    const handled = await handleDeviceMessage(deps, {
      topic: msg.topic,
      payload: msg.payload,
      ...(msg.clientId === undefined ? {} : { clientId: msg.clientId }),
    });
    const o = handled.outcome;
    // A pack counts as the records in it; a pack refused as a whole counts once, as any refused message.
    const records = o.status === 'packed' ? o.records.map((r) => r.outcome) : [o];
    for (const r of records) {
      const counted = outcomeMetric(r);
      if (counted) deps.metrics?.add(counted, 1);
    }
    for (const r of records) {
      if (r.status === 'rejected' || r.status === 'dropped')
        deps.log.warn('device message refused', {
          topic: msg.topic,
          code: r.code,
          reason: r.reason,
          bytes: msg.payload.length,
          ...(r.status === 'rejected' && r.seq !== undefined ? { seq: r.seq } : {}),
        });
    }
    const matched = deps.onRecordStored ? matchRoute(msg.topic) : undefined;
    // A packed record is an inline record like one sent alone (RecordEntry.via), so the hot policy, which names
    // record routes, sees it as one from the records route.
    const routeName =
      matched?.route.kind === 'pack'
        ? (DEVICE_ROUTES.find((r) => r.kind === 'record')?.name ?? matched.route.name)
        : matched?.route.name;
    for (const r of records) {
      if (!deps.onRecordStored || !matched) break;
      if ((r.status === 'stored' || r.status === 'duplicate') && 'recordId' in r && routeName)
        await deps.onRecordStored({
          recordId: r.recordId,
          deviceId: matched.deviceId,
          seq: r.seq,
          route: routeName,
          status: r.status,
        });
    }
    return handled.replies;
  };
}

/** One message in, the MQTT messages to publish out: what a Lambda invocation needs. */
export function createIngestHandler(deps: DeviceMessageDeps & { log: Logger; metrics?: Metrics }) {
  const handle = createDeviceMessageHandler(deps);
  return async (event: DeviceMessageEvent): Promise<OutgoingMessage[]> => encodeReplies(await handle(event));
}
