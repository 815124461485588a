/**
 * One simulated device: its own master key, sequence and hash chain, an outbox on disk, and an MQTT
 * connection with its own credentials. It seals readings into record envelopes, publishes them at QoS 1,
 * and forgets a record only when the backend's ack on devices/{id}/acks says it is durably stored.
 *
 * Packets whose envelope exceeds one MQTT message (128 KiB, AWS IoT Core's hard limit) take the upload
 * path: ask for a grant, PUT the envelope to the granted URL, then publish a small manifest.
 *
 * It connects as a real device on AWS IoT Core must (device-stub/connection-settings.ts): ALPN
 * `x-amzn-mqtt-ca` on port 443, a persistent session (clean: false) under its stable client id so acks the
 * backend sends while it is reconnecting wait for it at the broker, and publishes paced under IoT's 100 per
 * second per connection.
 *
 * When the broker refuses a publish it closes the connection without an error the client can see. A device
 * whose connection is closed three times in a row with publishes outstanding and no ack in between stops
 * with `publish-refused` and keeps its records, instead of reconnecting forever.
 *
 * A device with a signing key (the default; `--unsigned` makes a legacy v1 device) signs every record (envelope
 * v2), publishes a signed head of its sequence every `headIntervalMs` while it seals something new and once
 * more before a clean exit, and can rotate its key: it first drains its outbox, so no record signed with the
 * old key is still on its way, then publishes the rotation signed by both keys, and signs with the new key only
 * once the backend acknowledged it (device-stub/signing-key-store.ts, docs/topics.md).
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { toHex } from '../lib/core/bytes.js';
import { signHead } from '../lib/core/device-head.js';
import { type AckEntry, AckMessage, UploadGrantMessage } from '../lib/core/device-messages.js';
import type { SigAlg } from '../lib/core/device-signature.js';
import { sealRecord } from '../lib/core/envelope.js';
import { sha256 } from '../lib/core/hash.js';
import { leafHashOf } from '../lib/core/leaf.js';
import { deriveRecordKey } from '../lib/core/record-key.js';
import { encodeRecordPack, PACK_ENTRY_PREFIX_BYTES, PACK_HEADER_BYTES } from '../lib/core/record-pack.js';
import { deviceReplyTopics, MQTT_MAX_MESSAGE_BYTES } from '../lib/routing/routes.js';
import { alpnFor, defaultPublishRateFor, PublishPacer, wireTopic } from './connection-settings.js';
import { sendHttp } from './http.js';
import type { DeviceState, Outbox, OutboxEntry, RejectedEntry } from './outbox.js';
import { readingsPacket } from './readings.js';
import { type SigningKeyStore, type StoredSigningKey, signerFor } from './signing-key-store.js';

/**
 * TLS (PEM): `ca` is what the device trusts for the broker and for upload URLs (the embedded runtime's CA, or
 * Amazon Root CA 1); `cert` and `key` make it mutual TLS, the device's credential, as AWS IoT Core requires.
 */
export interface DeviceTls {
  cert?: string;
  key?: string;
  ca?: string;
  /** ALPN protocols to offer; default `x-amzn-mqtt-ca` for MQTT over TLS on port 443 (AWS IoT), else none. */
  alpn?: string[];
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
  /**
   * Unacknowledged messages on the wire at once (a pack counts once, while any record in it is unanswered);
   * AWS IoT allows 100 QoS 1 messages in flight.
   */
  maxInFlight: number;
  /**
   * Record packs (docs/envelope.md "Record pack"): when several records wait, up to this many go in one
   * message on devices/{id}/packs. Default 64; 1 sends every envelope alone on devices/{id}/records.
   */
  packMaxRecords?: number;
  /** Largest pack in bytes. Default 120 KiB, under the 128 KiB of one MQTT message. */
  packMaxBytes?: number;
  /** How long a record may wait for others to fill its pack. Default 200 ms. */
  packLingerMs?: number;
  ackTimeoutMs: number;
  /** For tests of the broker's topic policy: publish as if this device were another. */
  publishAsDeviceId?: string;
  /**
   * Most publishes in any second on this connection (AWS IoT allows 100). Default: 90 for an AWS IoT endpoint,
   * no pacing for other brokers (defaultPublishRateFor); 0: no pacing.
   */
  maxPublishesPerSecond?: number;
  /**
   * MQTT clean session. Default false: a persistent session under the device id, so the broker keeps the
   * subscription and queues acks (QoS 1) sent while the device is disconnected, as AWS IoT does for an hour.
   */
  cleanSession?: boolean;
  /**
   * Publish by Basic Ingest to the stage's topic rules, named with this prefix (`iot_notary_prod_`; see
   * connection-settings.ts wireTopic). Default: plain topics.
   */
  basicIngestRulePrefix?: string;
  /** Called with each publish as it goes to the client (tests count publishes per second with it). */
  onPublish?: (topic: string, at: number, payload: Buffer | string) => void;
  clock?: () => number;
  /** Where the device's signing key is (it must hold one for this device). Absent: unsigned (v1) records. */
  keys?: SigningKeyStore;
  /** Milliseconds between heads while new records are sealed; 0: a head only before a clean exit. */
  headIntervalMs?: number;
  /** Rotate to a new key of this algorithm (after draining the outbox) before sealing anything new. */
  rotateTo?: SigAlg;
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
  /** Record packs published (each pack once per time it was sent). */
  packs: number;
  /** Messages received on devices/{id}/acks. */
  ackMessages: number;
  /** Heads the backend acknowledged (stored or duplicate). */
  heads: number;
  /** Key ids (hex) before and after a rotation the backend acknowledged. */
  rotated?: { from: string; to: string };
  /** Heads and rotations the backend refused. */
  refusedStatements: { kind: 'head' | 'key'; code: string; reason: string }[];
  error?: { code: string; message: string };
}

export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  constructor(
    readonly code: 'connection-refused' | 'publish-refused' | 'rotation-refused' | 'timeout' | 'stopped',
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_PACK_MAX_RECORDS = 64;
export const DEFAULT_PACK_MAX_BYTES = 120 * 1024;
export const DEFAULT_PACK_LINGER_MS = 200;

const REFUSAL_STRIKES = 3;
/** Reconnect delay after a dropped connection. */
const RECONNECT_MS = 500;
/** Longest wait between CONNECTs answered CONNACK 3. */
const UNAVAILABLE_BACKOFF_MAX_MS = 30_000;

/** A head or a rotation on its way: published again, the same bytes, until an ack names its leaf hash. */
interface PendingStatement {
  kind: 'head' | 'key';
  topic: string;
  bytes: Uint8Array;
  sentAt: number;
  /** head: its count. */
  count?: number;
}

/**
 * Where the device is. `draining`: a rotation waits for the outbox to empty. `rotating`: the rotation is
 * published and unanswered. `sealing`: records are created and sent. `closing`: everything is acknowledged and
 * the last head is on its way.
 */
type Phase = 'draining' | 'rotating' | 'sealing' | 'closing';

export class SimulatedDevice {
  private client: MqttClient | undefined;
  private readonly queue: number[] = [];
  private readonly queued = new Set<number>();
  private readonly inFlight = new Map<number, number>();
  /** The message each in-flight record went in; a message counts against maxInFlight until all are answered. */
  private readonly messageOf = new Map<number, Set<number>>();
  /** Packs on their way, by SHA-256 (hex): a pack refused as a whole is answered by its hash alone. */
  private readonly packs = new Map<string, number[]>();
  /** When the oldest record now waiting in the queue started waiting (for PACK_LINGER_MS). */
  private waitingSince: number | undefined;
  /** Messages with a record still unanswered: what maxInFlight bounds. */
  private openMessages = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
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
  /** Absent: publishes are not paced. */
  private readonly pacer: PublishPacer | undefined;
  /** A pump waiting for the pacer's window to move on. */
  private pumpTimer: NodeJS.Timeout | undefined;
  private signingKey: StoredSigningKey | undefined;
  private phase: Phase = 'sealing';
  private generating = false;
  /** Heads and rotations published and not yet answered, by leaf hash (hex). */
  private readonly statements = new Map<string, PendingStatement>();

  constructor(private readonly o: DeviceOptions) {
    this.clock = o.clock ?? Date.now;
    const rate = o.maxPublishesPerSecond ?? defaultPublishRateFor(o.mqttUrl);
    this.pacer = rate ? new PublishPacer(rate) : undefined;
    this.result = {
      deviceId: o.deviceId,
      created: 0,
      stored: 0,
      duplicate: 0,
      rejected: [],
      resent: 0,
      reconnects: 0,
      uploads: 0,
      packs: 0,
      ackMessages: 0,
      heads: 0,
      refusedStatements: [],
    };
  }

  run(): Promise<DeviceResult> {
    return new Promise<DeviceResult>((resolve) => {
      this.finish = resolve;
      if (this.o.keys) {
        this.signingKey = this.o.keys.load(this.o.deviceId);
        if (!this.signingKey) {
          this.end({ code: 'stopped', message: `${this.o.deviceId} has no signing key` });
          return;
        }
        // A rotation left pending by an earlier run is finished before anything else is signed.
        if (this.signingKey.pending || this.o.rotateTo) this.phase = 'draining';
      }
      for (const e of this.o.outbox.pending(this.o.deviceId)) this.enqueue(e);
      this.connect();
      if (this.phase === 'sealing') this.startGenerating();
      this.timers.push(setInterval(() => this.expireInFlight(), Math.max(200, this.o.ackTimeoutMs / 4)));
      const every = this.o.headIntervalMs ?? 0;
      if (this.signingKey && every > 0) this.timers.push(setInterval(() => this.maybePublishHead(), every));
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
    clearTimeout(this.pumpTimer);
    clearTimeout(this.lingerTimer);
    this.result.created = this.created;
    if (error) this.result.error = error;
    const client = this.client;
    this.client = undefined;
    if (client) client.end(true);
    this.finish?.(this.result);
  }

  private connect(): void {
    const { password, tls } = this.o;
    const alpn = tls?.alpn ?? alpnFor(this.o.mqttUrl);
    const clean = this.o.cleanSession ?? false;
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
      ...(alpn ? { ALPNProtocols: alpn } : {}),
      clean,
      reconnectPeriod: RECONNECT_MS,
      // mqtt.js gives up for good after any refused CONNACK unless told otherwise; 4 and 5 end the device
      // below, and 3 ("server unavailable", a source over its failure budget) is worth waiting out.
      reconnectOnConnackError: true,
      connectTimeout: 5000,
      protocolVersion: 4,
    });
    this.client = client;
    let connects = 0;
    // Whether the connection that just closed was accepted (CONNACK 0): only then does closing it after our
    // publishes say something about topics. A CONNECT refused by CONNACK, or a broker not there at all (no
    // CONNACK: the backend is down or restarting), does not. Read from the CONNACK itself, not from 'connect':
    // on a reconnect mqtt.js sends its unacknowledged publishes before it emits 'connect', so a broker that
    // closes on them closes a connection 'connect' never announced.
    let acceptedAtConnect = false;
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') acceptedAtConnect = (packet.returnCode ?? 0) === 0;
    });
    client.on('connect', (connack) => {
      if (connects++ > 0) this.result.reconnects++;
      // The broker kept our session: acks for what is in flight may be queued there and arrive next, so
      // resending now would only earn duplicates. What stays unacknowledged goes again at its ack timeout.
      const resumed = !clean && connack.sessionPresent === true;
      client.options.reconnectPeriod = RECONNECT_MS;
      this.ackedSinceConnect = false;
      this.subscribed = false;
      client.subscribe(
        [deviceReplyTopics.acks(this.o.deviceId), deviceReplyTopics.uploadGrants(this.o.deviceId)],
        { qos: 1 },
        (err) => {
          if (err) return;
          this.subscribed = true;
          // Without a session, everything not yet acknowledged goes out again, oldest first; a resumed
          // session has them (records, heads and rotations alike) in flight already.
          if (!resumed) {
            for (const seq of [...this.inFlight.keys()].sort((a, b) => b - a)) this.requeueFront(seq);
            this.inFlight.clear();
            this.messageOf.clear();
            this.openMessages = 0;
            this.packs.clear();
            for (const st of this.statements.values()) this.sendStatement(st);
          }
          this.pump();
          this.checkDone();
        },
      );
    });
    client.on('close', () => {
      this.subscribed = false;
      const accepted = acceptedAtConnect;
      acceptedAtConnect = false;
      if (this.done) return;
      if (accepted && this.inFlight.size > 0 && !this.ackedSinceConnect) {
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
      } else if (err.code === 3) {
        // Retrying at once would only be refused again until the address's budget refills (10 s at the
        // runtime's defaults; docs/topics.md): back off, doubling up to a cap.
        const period = client.options.reconnectPeriod ?? RECONNECT_MS;
        client.options.reconnectPeriod = Math.min(Math.max(period * 2, 1000), UNAVAILABLE_BACKOFF_MAX_MS);
      }
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  private startGenerating(): void {
    if (this.generating) return;
    this.generating = true;
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
      ...(this.signingKey ? { signer: signerFor(this.signingKey) } : {}),
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
      this.waitingSince ??= this.clock();
      this.queue.push(e.seq);
      this.queued.add(e.seq);
    }
  }

  private requeueFront(seq: number): void {
    this.settle(seq);
    if (!this.entries.has(seq) || this.queued.has(seq)) return;
    this.waitingSince ??= this.clock();
    this.queue.unshift(seq);
    this.queued.add(seq);
    this.result.resent++;
  }

  /** A record is answered or given up on: it no longer holds its message in flight. */
  private settle(seq: number): void {
    this.inFlight.delete(seq);
    const msg = this.messageOf.get(seq);
    if (!msg) return;
    msg.delete(seq);
    this.messageOf.delete(seq);
    if (msg.size === 0) this.openMessages--;
  }

  private get packMaxRecords(): number {
    return this.o.packMaxRecords ?? DEFAULT_PACK_MAX_RECORDS;
  }

  /**
   * Whether the queue's head should go now or wait for more records to share its pack: it goes once a pack is
   * full, once its oldest record waited PACK_LINGER_MS, or once no more records are coming in this run.
   */
  private packReady(): boolean {
    if (this.packMaxRecords <= 1) return true;
    if (this.queue.length >= this.packMaxRecords) return true;
    if (this.created >= this.o.records || this.phase !== 'sealing') return true;
    const bytes = this.queue.reduce(
      (n, s) => n + PACK_ENTRY_PREFIX_BYTES + (this.entries.get(s)?.envelope.length ?? 0),
      PACK_HEADER_BYTES,
    );
    if (bytes >= (this.o.packMaxBytes ?? DEFAULT_PACK_MAX_BYTES)) return true;
    const linger = this.o.packLingerMs ?? DEFAULT_PACK_LINGER_MS;
    const waited = this.clock() - (this.waitingSince ?? this.clock());
    if (waited >= linger) return true;
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.pump();
    }, linger - waited);
    return false;
  }

  /** The records at the queue's head that go in the next message (one, or a pack's worth), taken off it. */
  private takeNext(): OutboxEntry[] {
    const maxBytes = this.o.packMaxBytes ?? DEFAULT_PACK_MAX_BYTES;
    const out: OutboxEntry[] = [];
    let bytes = PACK_HEADER_BYTES;
    while (this.queue.length > 0 && out.length < this.packMaxRecords) {
      const seq = this.queue[0] as number;
      const e = this.entries.get(seq);
      if (!e) {
        this.queue.shift();
        this.queued.delete(seq);
        continue;
      }
      const size = PACK_ENTRY_PREFIX_BYTES + e.envelope.length;
      // A record that does not fit a pack goes alone (or by the upload path), never packed.
      if (out.length > 0 && (bytes + size > maxBytes || e.envelope.length > MQTT_MAX_MESSAGE_BYTES)) break;
      this.queue.shift();
      this.queued.delete(seq);
      out.push(e);
      bytes += size;
      if (bytes > maxBytes || e.envelope.length > MQTT_MAX_MESSAGE_BYTES) break;
    }
    if (this.queue.length === 0) this.waitingSince = undefined;
    else this.waitingSince = this.clock();
    return out;
  }

  /** Every topic the device publishes to, in one place: `devices/{id}/<kind>`. */
  private topic(kind: 'records' | 'packs' | 'uploads/request' | 'manifests' | 'heads' | 'keys'): string {
    return `devices/${this.o.publishAsDeviceId ?? this.o.deviceId}/${kind}`;
  }

  private pump(): void {
    const client = this.client;
    while (
      client?.connected &&
      this.subscribed &&
      !this.done &&
      this.openMessages < this.o.maxInFlight &&
      this.queue.length > 0 &&
      this.packReady()
    ) {
      const now = this.clock();
      const wait = this.pacer?.wait(now) ?? 0;
      if (wait > 0) {
        // This second's publishes are spent: pump again when the window has moved on.
        this.pumpTimer ??= setTimeout(() => {
          this.pumpTimer = undefined;
          this.pump();
        }, wait);
        return;
      }
      const batch = this.takeNext();
      const first = batch[0];
      if (!first) continue;
      const message = new Set(batch.map((e) => e.seq));
      this.openMessages++;
      for (const e of batch) {
        this.inFlight.set(e.seq, this.clock());
        this.messageOf.set(e.seq, message);
      }
      if (batch.length > 1) {
        const pack = encodeRecordPack(batch.map((e) => e.envelope));
        this.packs.set(
          toHex(sha256(pack)),
          batch.map((e) => e.seq),
        );
        this.result.packs++;
        this.publish(client, this.topic('packs'), Buffer.from(pack), now);
      } else if (first.envelope.length <= MQTT_MAX_MESSAGE_BYTES) {
        this.publish(client, this.topic('records'), Buffer.from(first.envelope), now);
      } else {
        const req = {
          v: 1,
          seq: first.seq,
          sha256: toHex(sha256(first.envelope)),
          size: first.envelope.length,
        };
        this.publish(client, this.topic('uploads/request'), JSON.stringify(req), now);
      }
    }
  }

  /** `at`: the time the pacer counted this publish at, so `onPublish` sees what the pacer limited. */
  private publish(client: MqttClient, topic: string, payload: Buffer | string, at = this.clock()): void {
    this.o.onPublish?.(topic, at, payload);
    client.publish(wireTopic(topic, this.o.basicIngestRulePrefix), payload, { qos: 1 });
  }

  /** Resolves once the pacer lets one more publish go (and counts it), with the time it was counted at. */
  private async paced(): Promise<number> {
    const pacer = this.pacer;
    let now = this.clock();
    if (!pacer) return now;
    for (let wait = pacer.wait(now); wait > 0; wait = pacer.wait(now)) {
      await new Promise((r) => setTimeout(r, wait));
      now = this.clock();
    }
    return now;
  }

  private expireInFlight(): void {
    const now = this.clock();
    const stale = [...this.inFlight.entries()]
      .filter(([, at]) => now - at > this.o.ackTimeoutMs)
      .map(([s]) => s);
    for (const seq of stale.sort((a, b) => b - a)) this.requeueFront(seq);
    if (stale.length) this.pump();
    for (const st of this.statements.values())
      if (now - st.sentAt > this.o.ackTimeoutMs) this.sendStatement(st);
  }

  // ------------------------------------------------------------------------------- heads and rotations

  /** Publishes (again) a head or rotation; the same bytes every time, so a redelivery reads `duplicate`. */
  private sendStatement(st: PendingStatement): void {
    st.sentAt = this.clock();
    const client = this.client;
    if (client?.connected && this.subscribed)
      client.publish(wireTopic(st.topic, this.o.basicIngestRulePrefix), Buffer.from(st.bytes), { qos: 1 });
  }

  private publishStatement(kind: 'head' | 'key', bytes: Uint8Array, count?: number): void {
    const st: PendingStatement = {
      kind,
      topic: this.topic(kind === 'head' ? 'heads' : 'keys'),
      bytes,
      sentAt: 0,
      ...(count === undefined ? {} : { count }),
    };
    this.statements.set(toHex(leafHashOf(bytes)), st);
    this.sendStatement(st);
  }

  private headPending(): boolean {
    return [...this.statements.values()].some((s) => s.kind === 'head');
  }

  /** A head of everything sealed so far, when something was sealed since the last acknowledged head. */
  private maybePublishHead(): boolean {
    if (this.done || !this.signingKey || this.phase === 'draining' || this.phase === 'rotating') return false;
    this.state ??= this.o.outbox.getDevice(this.o.deviceId);
    const state = this.state;
    if (!state || state.nextSeq === 0 || state.nextSeq === state.headCount || this.headPending())
      return false;
    const { bytes } = signHead(
      { deviceId: this.o.deviceId, count: state.nextSeq, lastHash: state.prevHash, time: this.clock() },
      signerFor(this.signingKey),
    );
    this.publishStatement('head', bytes, state.nextSeq);
    return true;
  }

  /** The outbox is empty: publish the rotation (the pending one, if an earlier run left one). */
  private startRotation(): void {
    const keys = this.o.keys;
    const current = this.signingKey;
    if (!keys || !current) return;
    const alg = current.pending?.key.alg ?? this.o.rotateTo ?? current.key.alg;
    const next = keys.beginRotation(this.o.deviceId, alg, this.clock());
    this.signingKey = next;
    this.phase = 'rotating';
    this.publishStatement('key', next.pending.event);
  }

  private onStatementAck(a: AckEntry): void {
    if (a.leafHash === undefined) return;
    const st = this.statements.get(a.leafHash);
    if (!st || st.kind !== a.kind) return;
    this.statements.delete(a.leafHash);
    this.ackedSinceConnect = true;
    this.strikes = 0;
    const refused = a.status === 'rejected';
    if (refused)
      this.result.refusedStatements.push({
        kind: st.kind,
        code: a.code ?? 'rejected',
        reason: a.reason ?? '',
      });
    if (st.kind === 'head') {
      if (!refused && st.count !== undefined) {
        this.o.outbox.setHeadCount(this.o.deviceId, st.count);
        if (this.state) this.state.headCount = st.count;
        this.result.heads++;
      }
      // Closing: a head that was already on its way may not cover the last records; then one more goes out.
      if (this.phase === 'closing' && (refused || !this.maybePublishHead())) this.end();
      return;
    }
    const keys = this.o.keys;
    const before = this.signingKey;
    if (!keys || !before) return;
    if (refused) {
      this.signingKey = keys.abandonRotation(this.o.deviceId);
      this.end({
        code: 'rotation-refused',
        message: `the backend refused the key rotation: ${a.code ?? 'rejected'}: ${a.reason ?? ''}`,
      });
      return;
    }
    this.signingKey = keys.completeRotation(this.o.deviceId);
    this.result.rotated = { from: toHex(before.key.keyId), to: toHex(this.signingKey.key.keyId) };
    this.phase = 'sealing';
    this.startGenerating();
    this.checkDone();
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
      this.result.ackMessages++;
      const status = new Map<number, string>();
      const refuse = (seq: number, code: string, reason: string) => {
        this.settle(seq);
        if (this.o.outbox.reject(this.o.deviceId, seq, code, reason))
          this.result.rejected.push({ deviceId: this.o.deviceId, seq, code, reason });
        this.entries.delete(seq);
      };
      for (const a of msg.data.acks) {
        if (a.kind === 'pack') {
          // A pack refused as a whole (its framing): every record in it is moved aside, as a refused record is.
          const seqs = a.sha256 === undefined ? undefined : this.packs.get(a.sha256);
          if (!seqs || a.sha256 === undefined) continue;
          this.packs.delete(a.sha256);
          this.ackedSinceConnect = true;
          this.strikes = 0;
          for (const seq of seqs)
            if (this.entries.has(seq)) refuse(seq, a.code ?? 'rejected', a.reason ?? '');
          continue;
        }
        if (a.kind !== undefined) {
          this.onStatementAck(a);
          continue;
        }
        if (a.seq === undefined) continue;
        this.ackedSinceConnect = true;
        this.strikes = 0;
        if (a.status === 'rejected') {
          refuse(a.seq, a.code ?? 'rejected', a.reason ?? '');
          continue;
        }
        // An answer to a pack covers seq through toSeq ("stored through seq N"); one to a record, its seq.
        const to = a.toSeq ?? a.seq;
        const covered = [...this.entries.keys()].filter((s) => s >= (a.seq as number) && s <= to);
        for (const seq of covered.length > 0 ? covered : [a.seq]) {
          this.settle(seq);
          status.set(seq, a.status);
          this.entries.delete(seq);
        }
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
      this.settle(seq);
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
      const at = await this.paced();
      const client = this.client;
      if (client) this.publish(client, this.topic('manifests'), JSON.stringify(manifest), at);
    } catch {
      // Network trouble: the ack timeout resends.
    }
  }

  private checkDone(): void {
    if (this.done) return;
    if (this.entries.size > 0) return;
    if (this.phase === 'draining') {
      // Nothing signed with the old key is still unanswered: the rotation can go out.
      if (this.subscribed) this.startRotation();
      return;
    }
    if (this.phase !== 'sealing' || this.created < this.o.records) return;
    // A clean exit: a head of everything sealed, unless the last acknowledged one says so already.
    if (this.maybePublishHead() || this.headPending()) {
      this.phase = 'closing';
      return;
    }
    this.end();
  }
}
