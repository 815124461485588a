/**
 * The ingest function's edge: one device message in, the MQTT replies out. The embedded router calls it with
 * what the broker delivered; the Lambda entry point (an AWS IoT rule action) calls it with the rule's event.
 * Validation of the message itself, and everything after, is lib/ingest.
 */
import { z } from 'zod';
import {
  type DeviceMessageDeps,
  encodeReplies,
  handleDeviceMessage,
  type Reply,
} from '../../lib/ingest/device-message.js';
import type { Logger } from '../../lib/logger.js';

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

/**
 * One message in, its replies out as values. The embedded router uses this directly and encodes the replies
 * of a whole event-loop turn together, so a device gets one ack message for many records.
 */
export function createDeviceMessageHandler(deps: DeviceMessageDeps & { log: Logger }) {
  return async (event: DeviceMessageEvent): Promise<Reply[]> => {
    const msg = DeviceMessageEvent.parse(event);
    const handled = await handleDeviceMessage(deps, {
      topic: msg.topic,
      payload: msg.payload,
      ...(msg.clientId === undefined ? {} : { clientId: msg.clientId }),
    });
    const o = handled.outcome;
    if (o.status === 'rejected' || o.status === 'dropped') {
      deps.log.warn('device message refused', {
        topic: msg.topic,
        code: o.code,
        reason: o.reason,
        bytes: msg.payload.length,
      });
    }
    return handled.replies;
  };
}

/** One message in, the MQTT messages to publish out: what a Lambda invocation needs. */
export function createIngestHandler(deps: DeviceMessageDeps & { log: Logger }) {
  const handle = createDeviceMessageHandler(deps);
  return async (event: DeviceMessageEvent): Promise<OutgoingMessage[]> => encodeReplies(await handle(event));
}
