/**
 * What a device needs to connect to AWS IoT Core as a real device does, beside its certificate
 * (docs/deploy.md, "The device stub against AWS IoT"):
 *  - optionally, Basic Ingest: publishing each message to `$aws/rules/<rule>/<topic>` hands it straight to
 *    the route's topic rule and skips IoT's inbound messaging charge (docs/deploy.md, "Basic Ingest");
 *  - on port 443, TLS must offer the ALPN protocol `x-amzn-mqtt-ca`: that port also serves HTTPS, and
 *    without it the connection is not MQTT;
 *  - IoT refuses more than 100 publishes per second per connection (it throttles, then disconnects), so a
 *    device paces its publishes below that.
 */

import { basicIngestTopic, matchRoute } from '../lib/routing/routes.js';

/** The ALPN protocol name AWS IoT Core requires for MQTT with an X.509 client certificate on port 443. */
export const AWS_IOT_MQTT_ALPN = 'x-amzn-mqtt-ca';

/** Publishes per second per connection AWS IoT Core allows. */
export const AWS_IOT_PUBLISHES_PER_SECOND = 100;

/** The stub's default against AWS IoT: below its limit with a margin for the broker's own accounting. */
export const DEFAULT_MAX_PUBLISHES_PER_SECOND = 90;

/** AWS IoT Core's device data endpoints: `<prefix>-ats.iot.<region>.amazonaws.com` (`.com.cn` in China). */
const AWS_IOT_HOST = /\.iot\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/i;

/**
 * The pacing a device needs by default for an MQTT URL: AWS IoT's limit for its endpoints, none for any other
 * broker (the embedded one has no such limit, and pacing there would only cap what the bench can measure).
 */
export function defaultPublishRateFor(mqttUrl: string): number | undefined {
  return AWS_IOT_HOST.test(new URL(mqttUrl).hostname) ? DEFAULT_MAX_PUBLISHES_PER_SECOND : undefined;
}

/** ALPN protocols to offer for an MQTT URL: `x-amzn-mqtt-ca` for MQTT over TLS on port 443, else none. */
export function alpnFor(mqttUrl: string): string[] | undefined {
  const u = new URL(mqttUrl);
  const tls = u.protocol === 'mqtts:' || u.protocol === 'ssl:' || u.protocol === 'tls:';
  return tls && u.port === '443' ? [AWS_IOT_MQTT_ALPN] : undefined;
}

/**
 * At most `perSecond` publishes in any window of 1000 ms, by the given clock. `wait(now)` says how long the
 * next publish must wait (0: go now, and it is counted); a caller that must wait schedules itself again.
 */
export class PublishPacer {
  private readonly sent: number[] = [];
  /** Publishes that had to wait for the window: how often pacing held the device back. */
  held = 0;

  constructor(private readonly perSecond: number) {
    if (!Number.isSafeInteger(perSecond) || perSecond < 1)
      throw new RangeError(`publishes per second ${perSecond} is not a positive integer`);
  }

  wait(now: number): number {
    while (this.sent.length > 0 && (this.sent[0] as number) <= now - 1000) this.sent.shift();
    if (this.sent.length < this.perSecond) {
      this.sent.push(now);
      return 0;
    }
    this.held++;
    return Math.max(1, (this.sent[0] as number) + 1000 - now);
  }
}

/**
 * The setting `BASIC_INGEST_RULE_PREFIX` (`--basic-ingest-rule-prefix`): the stage's topic rule name prefix,
 * `<app>_<stage>_` with every character outside [A-Za-z0-9_] as `_` (infra/routing.ts ruleNamePrefixFor), e.g.
 * `iot_notary_prod_`. Unset or empty: plain topics, through the broker (the embedded runtime has no rules).
 */
export function basicIngestRulePrefixFrom(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^[A-Za-z0-9_]{1,100}$/.test(value))
    throw new RangeError(
      `BASIC_INGEST_RULE_PREFIX ${JSON.stringify(value)} is not a topic rule name prefix ([A-Za-z0-9_], like iot_notary_prod_)`,
    );
  return value;
}

/**
 * The topic a device message goes out on: `topic` itself, or with a rule name prefix its Basic Ingest form
 * for the route it belongs to. A topic of no device route is left alone (it has no rule to go to).
 */
export function wireTopic(topic: string, basicIngestRulePrefix: string | undefined): string {
  if (basicIngestRulePrefix === undefined) return topic;
  const m = matchRoute(topic);
  return m ? basicIngestTopic(m.route, basicIngestRulePrefix, m.deviceId) : topic;
}
