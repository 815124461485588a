/**
 * The publishing side of the raw broker bench: P plain mqtt.js clients, QoS 1, each with at most
 * `maxInFlight` unacknowledged publishes, the same window the device stub keeps. No envelope, no outbox: this
 * is the ceiling the device path is compared with.
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface RawPublishJob {
  kind: 'raw';
  url: string;
  publishers: number;
  /** Total over all publishers. */
  messages: number;
  payloadBytes: number;
  maxInFlight: number;
  /** Untimed messages per publisher first, on another topic, so the JIT and socket buffers are warm. */
  warmMessages: number;
}

export interface RawPublishResult {
  kind: 'raw';
  published: number;
}

export const RAW_DATA_TOPIC = 'bench/data';
export const RAW_WARM_TOPIC = 'bench/warm';

function publishWindowed(
  client: MqttClient,
  topic: string,
  payload: Buffer,
  count: number,
  maxInFlight: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    let inFlight = 0;
    const pump = (): void => {
      while (inFlight < maxInFlight && sent < count) {
        sent++;
        inFlight++;
        client.publish(topic, payload, { qos: 1 }, (err) => {
          if (err) return reject(err);
          inFlight--;
          acked++;
          if (acked === count) resolve();
          else pump();
        });
      }
    };
    if (count === 0) resolve();
    else pump();
  });
}

export interface PreparedPublishers {
  go(): Promise<RawPublishResult>;
  close(): Promise<void>;
}

export async function preparePublishers(job: RawPublishJob): Promise<PreparedPublishers> {
  const clients = await Promise.all(
    Array.from({ length: job.publishers }, (_, i) =>
      mqtt.connectAsync(job.url, {
        clientId: `bench-pub-${process.pid}-${i}-${Date.now()}`,
        clean: true,
        reconnectPeriod: 0,
        protocolVersion: 4,
      }),
    ),
  );
  const payload = Buffer.alloc(job.payloadBytes, 0x5a);
  await Promise.all(
    clients.map((c) => publishWindowed(c, RAW_WARM_TOPIC, payload, job.warmMessages, job.maxInFlight)),
  );
  const share = (i: number): number =>
    Math.floor(job.messages / job.publishers) + (i < job.messages % job.publishers ? 1 : 0);
  return {
    go: async () => {
      await Promise.all(
        clients.map((c, i) =>
          publishWindowed(c, `${RAW_DATA_TOPIC}/${i}`, payload, share(i), job.maxInFlight),
        ),
      );
      return { kind: 'raw', published: job.messages };
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.endAsync(true)));
    },
  };
}
