/**
 * The raw broker rate: an aedes broker like lib/runtime/mqtt-broker.ts (same aedes version, same concurrency)
 * but with no authentication or topic policy, P mqtt.js publishers in a worker thread and one mqtt.js
 * subscriber, all QoS 1. This is the ceiling for ingest: the same bytes through the same broker, with nothing
 * done to them.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { startClientWorker } from './client-worker.js';
import { RAW_DATA_TOPIC } from './raw-publishers.js';
import { mbPerSec, perSec, type Series, series } from './stats.js';

export interface RawBrokerOptions {
  publishers: number;
  messages: number;
  payloadBytes: number;
  maxInFlight: number;
  warmMessages: number;
  reps: number;
  onProgress?: (msg: string) => void;
}

export interface RawBrokerFigures {
  publishers: number;
  messages: number;
  payloadBytes: number;
  msgsPerSec: Series;
  mbPerSec: Series;
}

export async function measureRawBroker(o: RawBrokerOptions): Promise<RawBrokerFigures> {
  // The embedded runtime's broker setting, so the two benches differ only in what happens to a message.
  const broker = await Aedes.createBroker({ concurrency: 256 });
  // The same socket options as lib/runtime/mqtt-broker.ts, so the comparison is like for like.
  const server = createServer({ noDelay: true }, broker.handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sub = await mqtt.connectAsync(url, {
    clientId: `bench-sub-${process.pid}`,
    clean: true,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  let received = 0;
  let target = Number.POSITIVE_INFINITY;
  let reached: (() => void) | undefined;
  sub.on('message', (topic) => {
    if (!topic.startsWith(`${RAW_DATA_TOPIC}/`)) return;
    received++;
    if (received >= target) reached?.();
  });
  await sub.subscribeAsync(`${RAW_DATA_TOPIC}/#`, { qos: 1 });

  const rates: number[] = [];
  const mbs: number[] = [];
  try {
    for (let r = 0; r < o.reps; r++) {
      const worker = startClientWorker({
        kind: 'raw',
        url,
        publishers: o.publishers,
        messages: o.messages,
        payloadBytes: o.payloadBytes,
        maxInFlight: o.maxInFlight,
        warmMessages: o.warmMessages,
      });
      try {
        await worker.ready;
        received = 0;
        target = o.messages;
        const all = new Promise<void>((resolve) => {
          reached = resolve;
        });
        const t0 = performance.now();
        // The run ends when the subscriber has every message, not when the publishers got their acks.
        await Promise.all([worker.go(), all]);
        const ms = performance.now() - t0;
        rates.push(perSec(o.messages, ms));
        mbs.push(mbPerSec(o.messages * o.payloadBytes, ms));
        o.onProgress?.(
          `raw ${o.payloadBytes} B run ${r + 1}/${o.reps}: ${Math.round(rates.at(-1) ?? 0)} msg/s`,
        );
      } finally {
        target = Number.POSITIVE_INFINITY;
        await worker.terminate();
      }
    }
  } finally {
    await sub.endAsync(true);
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return {
    publishers: o.publishers,
    messages: o.messages,
    payloadBytes: o.payloadBytes,
    msgsPerSec: series(rates),
    mbPerSec: series(mbs),
  };
}
