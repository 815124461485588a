/**
 * AWS IoT routing, derived from the one routing table (lib/routing/routes.ts): a topic rule per device route,
 * and the IoT policy that lets a device use only its own topics. sst.config.ts declares exactly these, and
 * tests/aws/infra.test.ts checks them against the table, so AWS and the embedded broker cannot drift.
 * Pure functions over plain strings: no SST or Pulumi types here.
 */
import {
  basicIngestTopic,
  DEVICE_ROUTES,
  type DeviceRoute,
  devicePublishTopics,
  deviceSubscribeTopics,
  type FunctionName,
  iotRuleSql,
} from '../lib/routing/routes.js';

/** AWS IoT substitutes the connected thing's name; a device's client id must equal its thing name. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, expanded by AWS IoT, not by JS.
export const THING_NAME = '${iot:Connection.Thing.ThingName}';

/** Rule SQL version whose functions (encode, clientid, timestamp) iotRuleSql() uses. */
export const IOT_SQL_VERSION = '2016-03-23';

export interface TopicRuleSpec {
  route: DeviceRoute;
  /** Rule names are [A-Za-z0-9_]{1,128} and unique per account and region, so they carry the app and stage. */
  ruleName: string;
  sql: string;
  sqlVersion: string;
  fn: FunctionName;
}

/** What every topic rule name of a stage starts with: devices need it for Basic Ingest topics. */
export function ruleNamePrefixFor(app: string, stage: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
  return `${clean(app)}_${clean(stage)}_`;
}

export function ruleNameFor(app: string, stage: string, route: DeviceRoute): string {
  const name = `${ruleNamePrefixFor(app, stage)}${route.name}`;
  if (name.length > 128) throw new RangeError(`topic rule name ${name} is longer than 128 characters`);
  return name;
}

export function topicRuleSpecs(app: string, stage: string): TopicRuleSpec[] {
  return DEVICE_ROUTES.map((route) => ({
    route,
    ruleName: ruleNameFor(app, stage, route),
    sql: iotRuleSql(route),
    sqlVersion: IOT_SQL_VERSION,
    fn: route.fn,
  }));
}

export interface PolicyStatement {
  Effect: 'Allow';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/**
 * The device policy, attached to every device certificate. `arnPrefix` is `arn:aws:iot:<region>:<account>`.
 * The thing-name variable makes one policy serve every device while confining each to its own client id and
 * topics; IsAttached refuses a certificate that is not attached to the thing it claims to be.
 *
 * A device may publish each route's topic both ways: plain (through the broker, which the embedded runtime
 * and older devices use) and as Basic Ingest to that route's own rule (`ruleNamePrefix` + route name, see
 * ruleNamePrefixFor), which skips IoT's inbound messaging charge. Both name the device's own id; the rule
 * and ingest treat them alike, so allowing both costs nothing in confinement. Each Basic Ingest resource pairs
 * a rule with its own route's topic because AWS does not apply a rule's FROM filter to Basic Ingest messages:
 * this policy, not the SQL, is what keeps a device to its own id there.
 */
export function deviceIotPolicy(arnPrefix: string, ruleNamePrefix: string): PolicyDocument {
  const topic = (t: string) => `${arnPrefix}:topic/${t}`;
  const filter = (t: string) => `${arnPrefix}:topicfilter/${t}`;
  const publish = [
    ...devicePublishTopics(THING_NAME),
    ...DEVICE_ROUTES.map((r) => basicIngestTopic(r, ruleNamePrefix, THING_NAME)),
  ];
  const subscribe = deviceSubscribeTopics(THING_NAME);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: `${arnPrefix}:client/${THING_NAME}`,
        Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
      },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: publish.map(topic) },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: subscribe.map(filter) },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: subscribe.map(topic) },
    ],
  };
}
