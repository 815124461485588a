/**
 * The embedded stand-in for AWS IoT topic rules: subscribes to every route of the routing table inside the
 * broker and hands each message to the named function. The broker's delivery callback is held until the
 * function finishes, so a slow backend slows the devices' sockets instead of piling up memory.
 *
 * Replies produced in the same turn of the event loop are published together: the acks of one device become
 * one message (AckMessage carries a list), so a busy device costs the broker one ack per group commit
 * instead of one per record.
 */
import type { Aedes } from 'aedes';
import { encodeReplies, type Reply } from '../ingest/device-message.js';
import type { DeviceMessageEvent } from '../ingest/ingest-handler.js';
import type { Logger } from '../logger.js';
import { DEVICE_ROUTES, type FunctionName, matchRoute } from '../routing/routes.js';

export interface RouterDeps {
  broker: Aedes;
  functions: Partial<Record<FunctionName, (e: DeviceMessageEvent) => Promise<Reply[]>>>;
  log: Logger;
}

export interface RunningRouter {
  /** Resolves once every message taken so far has been handled and answered. */
  drain(): Promise<void>;
  stop(): Promise<void>;
  inFlight(): number;
}

type Deliver = (packet: { topic: string; payload: Buffer | string }, cb: () => void) => void;

export async function startRouter(deps: RouterDeps): Promise<RunningRouter> {
  const inFlight = new Set<Promise<void>>();
  const subscriptions: { topic: string; fn: Deliver }[] = [];
  let pending: Reply[] = [];
  let flushScheduled = false;

  const flush = () => {
    flushScheduled = false;
    const replies = pending;
    pending = [];
    for (const m of encodeReplies(replies)) {
      deps.broker.publish(
        {
          cmd: 'publish',
          topic: m.topic,
          payload: Buffer.from(m.payload),
          qos: 1,
          retain: false,
          dup: false,
        },
        (err) => {
          if (err) deps.log.error('reply not published', { topic: m.topic, err });
        },
      );
    }
  };
  const reply = (replies: Reply[]) => {
    if (replies.length === 0) return;
    pending.push(...replies);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };

  for (const route of DEVICE_ROUTES) {
    const handler = deps.functions[route.fn];
    // A programming error (the routing table and the runtime's functions disagree): a plain Error.
    if (!handler)
      throw new Error(`routing table names function ${route.fn}, which this runtime does not have`);
    const deliver: Deliver = (packet, cb) => {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      // The broker's authorizer only lets a client publish under its own device id, so the topic names it.
      const clientId = matchRoute(packet.topic)?.deviceId;
      const work = handler({
        topic: packet.topic,
        payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
        ...(clientId === undefined ? {} : { clientId }),
      })
        .then(reply)
        .catch((err: unknown) => {
          // No ack is sent: the device keeps the record in its outbox and resends it; ingest is idempotent.
          deps.log.error('function failed; the device will resend', {
            fn: route.fn,
            topic: packet.topic,
            err,
          });
        })
        .finally(() => {
          inFlight.delete(work);
          cb();
        });
      inFlight.add(work);
    };
    await new Promise<void>((resolve) => deps.broker.subscribe(route.topicFilter, deliver, resolve));
    subscriptions.push({ topic: route.topicFilter, fn: deliver });
  }

  const drain = async () => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    flush();
  };
  return {
    drain,
    inFlight: () => inFlight.size,
    stop: async () => {
      for (const s of subscriptions)
        await new Promise<void>((resolve) => deps.broker.unsubscribe(s.topic, s.fn, resolve));
      await drain();
    },
  };
}
