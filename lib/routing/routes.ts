/**
 * The one routing table. The embedded router subscribes to these topic filters and dispatches to the named
 * function; sst.config.ts turns the same rows into AWS IoT topic rules, and the IoT policy and the local
 * broker's authorizer both derive each device's allowed topics from it. Local and cloud routing cannot drift
 * because neither has its own copy. docs/topics.md documents each topic's payload.
 */
import { isDeviceId } from '../core/device-id.js';

export type FunctionName = 'ingest' | 'anchor' | 'verify' | 'ipfs-pin';
/**
 * What a route carries. `head` is a device head and `key-rotation` a rotate key event (docs/device-keys.md),
 * both binary and signed by the device; they are answered on the acks topic like records.
 */
export type MessageKind = 'record' | 'pack' | 'manifest' | 'upload-request' | 'head' | 'key-rotation';

export interface DeviceRoute {
  /** Stable name: the IoT topic rule is named after it. */
  name: string;
  /** MQTT topic filter; `+` stands for the device id and is the only wildcard used. */
  topicFilter: string;
  kind: MessageKind;
  fn: FunctionName;
  /** Binary payloads reach Lambda base64-encoded (IoT rule SQL `encode(*, 'base64')`). */
  payload: 'binary' | 'json';
  /** Largest accepted payload. AWS IoT Core refuses more than 128 KiB per message at the broker. */
  maxBytes: number;
}

export const MQTT_MAX_MESSAGE_BYTES = 128 * 1024;

export const DEVICE_ROUTES: readonly DeviceRoute[] = [
  {
    name: 'device_records',
    topicFilter: 'devices/+/records',
    kind: 'record',
    fn: 'ingest',
    payload: 'binary',
    maxBytes: MQTT_MAX_MESSAGE_BYTES,
  },
  {
    // Several envelopes of the device in one message (docs/envelope.md "Record pack"), answered by one ack.
    name: 'device_packs',
    topicFilter: 'devices/+/packs',
    kind: 'pack',
    fn: 'ingest',
    payload: 'binary',
    maxBytes: MQTT_MAX_MESSAGE_BYTES,
  },
  {
    name: 'device_manifests',
    topicFilter: 'devices/+/manifests',
    kind: 'manifest',
    fn: 'ingest',
    payload: 'json',
    maxBytes: 4096,
  },
  {
    name: 'device_upload_requests',
    topicFilter: 'devices/+/uploads/request',
    kind: 'upload-request',
    fn: 'ingest',
    payload: 'json',
    maxBytes: 4096,
  },
  {
    name: 'device_heads',
    topicFilter: 'devices/+/heads',
    kind: 'head',
    fn: 'ingest',
    payload: 'binary',
    // A head is at most 215 bytes (lib/core/device-head.ts); the slack keeps a future version routable.
    maxBytes: 4096,
  },
  {
    name: 'device_keys',
    topicFilter: 'devices/+/keys',
    kind: 'key-rotation',
    fn: 'ingest',
    payload: 'binary',
    // A rotation is at most 273 bytes (lib/core/key-event.ts).
    maxBytes: 4096,
  },
];

/** Topics the backend publishes to a device, which it may subscribe to. */
export const deviceReplyTopics = {
  acks: (deviceId: string) => `devices/${deviceId}/acks`,
  uploadGrants: (deviceId: string) => `devices/${deviceId}/uploads/grant`,
};

export function topicFor(route: DeviceRoute, deviceId: string): string {
  return route.topicFilter.replace('+', deviceId);
}

/** Every topic a device may publish to. Nothing else, and never another device's. */
export function devicePublishTopics(deviceId: string): string[] {
  return DEVICE_ROUTES.map((r) => topicFor(r, deviceId));
}

/** Each route's topic filter around its `+`: what `mayPublishTo` compares without building topics. */
const ROUTE_TOPIC_PARTS = DEVICE_ROUTES.map((r) => {
  const plus = r.topicFilter.indexOf('+');
  return { before: r.topicFilter.slice(0, plus), after: r.topicFilter.slice(plus + 1) };
});

/**
 * `devicePublishTopics(deviceId).includes(topic)`, without building the list: the broker asks it on every
 * publish.
 */
export function mayPublishTo(deviceId: string, topic: string): boolean {
  for (const { before, after } of ROUTE_TOPIC_PARTS) {
    if (
      topic.length === before.length + deviceId.length + after.length &&
      topic.startsWith(before) &&
      topic.startsWith(deviceId, before.length) &&
      topic.endsWith(after)
    )
      return true;
  }
  return false;
}

export function deviceSubscribeTopics(deviceId: string): string[] {
  return [deviceReplyTopics.acks(deviceId), deviceReplyTopics.uploadGrants(deviceId)];
}

/**
 * The Basic Ingest form of a route's topic: `$aws/rules/<rule>/<topic>`, where `<rule>` is the route's topic
 * rule, named `<rulePrefix><route name>` (infra/routing.ts ruleNameFor makes the prefix `<app>_<stage>_`). AWS
 * IoT hands the message straight to that rule, without the broker's messaging charge; the rule's topic() sees
 * the topic without the prefix, so ingest is the same for both forms. The rule's FROM filter is not applied
 * to such messages: the device policy pins each rule to its route's topic (docs/deploy.md, "Basic Ingest").
 */
export function basicIngestTopic(route: DeviceRoute, rulePrefix: string, deviceId: string): string {
  // A programming error: the configurations that carry a prefix (BASIC_INGEST_RULE_PREFIX, the stub's option)
  // validate it first. A RangeError.
  if (!/^[A-Za-z0-9_]*$/.test(rulePrefix))
    throw new RangeError(`rule name prefix ${JSON.stringify(rulePrefix)} is not [A-Za-z0-9_]*`);
  return `${BASIC_INGEST_PREFIX}${rulePrefix}${route.name}/${topicFor(route, deviceId)}`;
}

/** Topics under it go to one rule by name, past the broker (AWS IoT's reserved Basic Ingest topics). */
export const BASIC_INGEST_PREFIX = '$aws/rules/';

/**
 * The topic a rule matched, for a topic that may carry a Basic Ingest prefix: what follows
 * `$aws/rules/<rule>/`, or the topic itself. AWS IoT already strips the prefix before the rule's topic() sees
 * it; this keeps a message routable if it ever arrives with one.
 */
export function withoutBasicIngestPrefix(topic: string): string {
  if (!topic.startsWith(BASIC_INGEST_PREFIX)) return topic;
  const rest = topic.slice(BASIC_INGEST_PREFIX.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? topic : rest.slice(slash + 1);
}

export function matchRoute(topic: string): { route: DeviceRoute; deviceId: string } | undefined {
  const parts = topic.split('/');
  for (const route of DEVICE_ROUTES) {
    const filter = route.topicFilter.split('/');
    if (filter.length !== parts.length) continue;
    let deviceId: string | undefined;
    let matches = true;
    for (let i = 0; i < filter.length; i++) {
      if (filter[i] === '+') deviceId = parts[i];
      else if (filter[i] !== parts[i]) matches = false;
    }
    if (matches && deviceId !== undefined && isDeviceId(deviceId)) return { route, deviceId };
  }
  return undefined;
}

/**
 * AWS IoT SQL for a route. Every payload, JSON ones included, travels base64: binary envelopes survive the
 * JSON event, and malformed JSON reaches ingest (and its dead letters) instead of failing inside the rule.
 */
export function iotRuleSql(route: DeviceRoute): string {
  return `SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS clientId, timestamp() AS receivedAt FROM '${route.topicFilter}'`;
}
