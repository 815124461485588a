/**
 * One simulated device: its own master key, sequence and hash chain, an outbox on disk, and an MQTT
 * connection with its own credentials. It seals readings into record envelopes, publishes them at QoS 1,
 * and forgets a record only when the backend's ack on devices/{id}/acks says it is durably stored.
 *
 * Packets whose envelope exceeds one MQTT message (128 KiB, AWS IoT Core's hard limit) take the upload
 * path: ask for a grant, PUT the envelope to the granted URL, then publish a small manifest.
 *
 * When the broker refuses a publish it closes the connection without an error the client can see. A device
 * whose connection is closed three times in a row with publishes outstanding and no ack in between stops
 * with `publish-refused` and keeps its records, instead of reconnecting forever.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { toHex } from '../lib/core/bytes.js';
import { AckMessage, UploadGrantMessage } from '../lib/core/device-messages.js';
import { sealRecord } from '../lib/core/envelope.js';
import { sha256 } from '../lib/core/hash.js';
import { deriveRecordKey } from '../lib/core/record-key.js';
import { deviceReplyTopics, MQTT_MAX_MESSAGE_BYTES } from '../lib/routing/routes.js';
import { sendHttp } from './http.js';
import type { DeviceState, Outbox, OutboxEntry, RejectedEntry } from './outbox.js';
import { readingsPacket } from './readings.js';

/**
 * TLS (PEM): `ca` is what the device trusts for the broker and for upload URLs (the embedded runtime's CA, or
 * Amazon Root CA 1); `cert` and `key` make it mutual TLS, the device's credential, as AWS IoT Core requires.
 */
export interface DeviceTls {
  cert?: string;
  key?: string;
  ca?: string;
}

export interface DeviceOptions {
  deviceId: string;
  /** MQTT password (the embedded broker). Omitted when the device authenticates by certificate alone. */
  password?: string;
  tls?: DeviceTls;
  outbox: Outbox;
  mqttUrl: string;
  /** New records to create in this run (records left in the outbox from an earlier run are sent too). */
  records: number;
  /** New records per second; 0 creates them as fast as the in-flight window allows. */
  ratePerSecond: number;
  packetBytes: number;
  seed: number;
  /** Unacknowledged records on the wire at once; AWS IoT allows 100 QoS 1 messages in flight. */
  maxInFlight: number;
  ackTimeoutMs: number;
  /** For tests of the broker's topic policy: publish as if this device were another. */
  publishAsDeviceId?: string;
  clock?: () => number;
}

export interface DeviceResult {
  deviceId: string;
  created: number;
  stored: number;
  duplicate: number;
  rejected: RejectedEntry[];
  resent: number;
  /** Connections made after the first: drops the device recovered from. */
  reconnects: number;
  uploads: number;
  error?: { code: string; message: string };
}

export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  constructor(
    readonly code: 'connection-refused' | 'publish-refused' | 'timeout' | 'stopped',
    message: string,
  ) {
    super(message);
  }
}

const REFUSAL_STRIKES = 3;

export class SimulatedDevice {
  private client: MqttClient | undefined;
  private readonly queue: number[] = [];
  private readonly queued = new Set<number>();
  private readonly inFlight = new Map<number, number>();
  private readonly entries = new Map<number, OutboxEntry>();
  private created = 0;
  private strikes = 0;
  private ackedSinceConnect = false;
  /** Publishing waits for SUBACK: an ack for a record sent before we listen for acks would be lost. */
  private subscribed = false;
  private state: DeviceState | undefined;
  private readonly result: DeviceResult;
  private finish: ((r: DeviceResult) => void) | undefined;
  private done = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly clock: () => number;

  constructor(private readonly o: DeviceOptions) {
    this.clock = o.clock ?? Date.now;
    this.result = {
      deviceId: o.deviceId,
      created: 0,
      stored: 0,
      duplicate: 0,
      rejected: [],
      resent: 0,
      reconnects: 0,
      uploads: 0,
    };
  }

  run(): Promise<DeviceResult> {
    return new Promise<DeviceResult>((resolve) => {
      this.finish = resolve;
      for (const e of this.o.outbox.pending(this.o.deviceId)) this.enqueue(e);
      this.connect();
      this.startGenerating();
      this.timers.push(setInterval(() => this.expireInFlight(), Math.max(200, this.o.ackTimeoutMs / 4)));
      this.checkDone();
    });
  }

  /** Stops now; whatever is unacknowledged stays in the outbox for the next run. */
  stop(
    code: DeviceError['code'] = 'stopped',
    message = 'stopped before every record was acknowledged',
  ): void {
    this.end({ code, message });
  }

  private end(error?: { code: string; message: string }): void {
    if (this.done) return;
    this.done = true;
    for (const t of this.timers) clearInterval(t);
    this.result.created = this.created;
    if (error) this.result.error = error;
    const client = this.client;
    this.client = undefined;
    if (client) client.end(true);
    this.finish?.(this.result);
  }

  private connect(): void {
    const { password, tls } = this.o;
    const client = mqtt.connect(this.o.mqttUrl, {
      clientId: this.o.deviceId,
      ...(password === undefined ? {} : { username: this.o.deviceId, password }),
      ...(tls
        ? {
            ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
            ...(tls.ca ? { ca: tls.ca } : {}),
            rejectUnauthorized: true,
          }
        : {}),
      clean: true,
      reconnectPeriod: 500,
      connectTimeout: 5000,
      protocolVersion: 4,
    });
    this.client = client;
    let connects = 0;
    client.on('connect', () => {
      if (connects++ > 0) this.result.reconnects++;
      this.ackedSinceConnect = false;
      this.subscribed = false;
      client.subscribe(
        [deviceReplyTopics.acks(this.o.deviceId), deviceReplyTopics.uploadGrants(this.o.deviceId)],
        { qos: 1 },
        (err) => {
          if (err) return;
          this.subscribed = true;
          // Everything not yet acknowledged goes out again, oldest first.
          for (const seq of [...this.inFlight.keys()].sort((a, b) => b - a)) this.requeueFront(seq);
          this.inFlight.clear();
          this.pump();
        },
      );
    });
    client.on('close', () => {
      this.subscribed = false;
      if (this.done) return;
      if (this.inFlight.size > 0 && !this.ackedSinceConnect) {
        this.strikes++;
        if (this.strikes >= REFUSAL_STRIKES) {
          const kept = this.o.outbox.pending(this.o.deviceId).length;
          this.end({
            code: 'publish-refused',
            message: `the broker closed the connection after our publishes ${this.strikes} times with no ack: this device may not publish there (check its topic policy); ${kept} records kept in the outbox`,
          });
        }
      }
    });
    client.on('error', (err: Error & { code?: number }) => {
      // CONNACK 4 (bad username or password) and 5 (not authorised) will not get better by retrying.
      if (err.code === 4 || err.code === 5) {
        this.end({ code: 'connection-refused', message: `broker refused the connection: ${err.message}` });
      }
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  private startGenerating(): void {
    const rate = this.o.ratePerSecond;
    if (rate <= 0) {
      const burst = () => {
        // Stay a window ahead of the wire so the outbox, not memory, holds the backlog.
        while (!this.done && this.created < this.o.records && this.queue.length < this.o.maxInFlight)
          this.createRecord();
        this.pump();
        if (!this.done && this.created < this.o.records) setImmediate(burst);
        else this.checkDone();
      };
      burst();
      return;
    }
    const start = this.clock();
    const tick = () => {
      const due = Math.min(this.o.records, Math.floor(((this.clock() - start) / 1000) * rate) + 1);
      while (!this.done && this.created < due) this.createRecord();
      this.pump();
      if (this.created >= this.o.records) {
        clearInterval(timer);
        this.checkDone();
      }
    };
    const timer = setInterval(tick, Math.max(5, Math.floor(1000 / rate)));
    this.timers.push(timer);
    tick();
  }

  private createRecord(): void {
    // The outbox is the device's own store and this object its only writer, so its state is read once.
    this.state ??= this.o.outbox.getDevice(this.o.deviceId);
    const state = this.state;
    if (!state) throw new Error(`device ${this.o.deviceId} has no state`);
    const timestamp = this.clock();
    const seq = state.nextSeq;
    const sealed = sealRecord({
      recordKey: deriveRecordKey(state.masterKey, this.o.deviceId, timestamp, seq),
      deviceId: this.o.deviceId,
      seq,
      timestamp,
      prevHash: state.prevHash,
      nonce: randomBytes(12),
      plaintext: readingsPacket(this.o.seed, this.o.deviceId, seq, timestamp, this.o.packetBytes),
    });
    const entry: OutboxEntry = {
      deviceId: this.o.deviceId,
      seq,
      envelope: sealed.envelope,
      createdAt: timestamp,
    };
    this.o.outbox.append(entry, sealed.recordHash);
    state.nextSeq = seq + 1;
    state.prevHash = sealed.recordHash;
    this.created++;
    this.enqueue(entry);
  }

  private enqueue(e: OutboxEntry): void {
    this.entries.set(e.seq, e);
    if (!this.queued.has(e.seq)) {
      this.queue.push(e.seq);
      this.queued.add(e.seq);
    }
  }

  private requeueFront(seq: number): void {
    if (!this.entries.has(seq) || this.queued.has(seq)) return;
    this.queue.unshift(seq);
    this.queued.add(seq);
    this.result.resent++;
  }

  private pump(): void {
    const client = this.client;
    while (
      client?.connected &&
      this.subscribed &&
      !this.done &&
      this.inFlight.size < this.o.maxInFlight &&
      this.queue.length > 0
    ) {
      const seq = this.queue.shift() as number;
      this.queued.delete(seq);
      const e = this.entries.get(seq);
      if (!e) continue;
      this.inFlight.set(seq, this.clock());
      const id = this.o.publishAsDeviceId ?? this.o.deviceId;
      if (e.envelope.length <= MQTT_MAX_MESSAGE_BYTES) {
        client.publish(`devices/${id}/records`, Buffer.from(e.envelope), { qos: 1 });
      } else {
        const req = { v: 1, seq, sha256: toHex(sha256(e.envelope)), size: e.envelope.length };
        client.publish(`devices/${id}/uploads/request`, JSON.stringify(req), { qos: 1 });
      }
    }
  }

  private expireInFlight(): void {
    const now = this.clock();
    const stale = [...this.inFlight.entries()]
      .filter(([, at]) => now - at > this.o.ackTimeoutMs)
      .map(([s]) => s);
    for (const seq of stale.sort((a, b) => b - a)) {
      this.inFlight.delete(seq);
      this.requeueFront(seq);
    }
    if (stale.length) this.pump();
  }

  private onMessage(topic: string, payload: Buffer): void {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    if (topic === deviceReplyTopics.acks(this.o.deviceId)) {
      const msg = AckMessage.safeParse(json);
      if (!msg.success) return;
      const status = new Map<number, string>();
      for (const a of msg.data.acks) {
        if (a.seq === undefined) continue;
        this.ackedSinceConnect = true;
        this.strikes = 0;
        this.inFlight.delete(a.seq);
        if (a.status === 'rejected') {
          if (this.o.outbox.reject(this.o.deviceId, a.seq, a.code ?? 'rejected', a.reason ?? '')) {
            this.result.rejected.push({
              deviceId: this.o.deviceId,
              seq: a.seq,
              code: a.code ?? 'rejected',
              reason: a.reason ?? '',
            });
          }
        } else {
          status.set(a.seq, a.status);
        }
        this.entries.delete(a.seq);
      }
      // One transaction for the whole ack message: the device's flash sees one write, not one per record.
      for (const seq of this.o.outbox.acknowledge(this.o.deviceId, [...status.keys()])) {
        if (status.get(seq) === 'stored') this.result.stored++;
        else this.result.duplicate++;
      }
      this.pump();
      this.checkDone();
    } else if (topic === deviceReplyTopics.uploadGrants(this.o.deviceId)) {
      const msg = UploadGrantMessage.safeParse(json);
      if (msg.success) void this.onGrant(msg.data);
    }
  }

  private async onGrant(g: UploadGrantMessage): Promise<void> {
    if (g.seq === undefined) return;
    const seq = g.seq;
    const e = this.entries.get(seq);
    if (!e) return;
    if ('error' in g) {
      this.inFlight.delete(seq);
      if (this.o.outbox.reject(this.o.deviceId, seq, g.error.code, g.error.reason)) {
        this.result.rejected.push({
          deviceId: this.o.deviceId,
          seq,
          code: g.error.code,
          reason: g.error.reason,
        });
      }
      this.entries.delete(seq);
      this.checkDone();
      return;
    }
    try {
      const res = await sendHttp(g.url, {
        method: g.method,
        headers: g.headers,
        body: e.envelope,
        ...(this.o.tls?.ca ? { ca: this.o.tls.ca } : {}),
      });
      if (res.status !== 201 && res.status !== 200) return; // the ack timeout will try again with a new grant
      this.result.uploads++;
      const manifest = { v: 1, seq, sha256: g.sha256, size: e.envelope.length };
      const id = this.o.publishAsDeviceId ?? this.o.deviceId;
      this.client?.publish(`devices/${id}/manifests`, JSON.stringify(manifest), { qos: 1 });
    } catch {
      // Network trouble: the ack timeout resends.
    }
  }

  private checkDone(): void {
    if (this.done) return;
    if (this.created >= this.o.records && this.entries.size === 0) this.end();
  }
}
