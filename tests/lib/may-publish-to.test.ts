/**
 * The broker's publish check (lib/runtime/mqtt-broker.ts) asks `mayPublishTo` on every publish instead of
 * building the device's topic list each time; it must answer exactly as that list does.
 */
import { describe, expect, it } from 'vitest';
import { DEVICE_ROUTES, devicePublishTopics, mayPublishTo, topicFor } from '../../lib/routing/routes.js';

describe('mayPublishTo', () => {
  it('allows each of the device own route topics', () => {
    for (const id of ['dev-1', 'a', 'sim-1-0001', 'x'.repeat(64)])
      for (const t of devicePublishTopics(id)) expect(mayPublishTo(id, t), t).toBe(true);
  });

  it('refuses another device, a prefix or extension of the id, other topics and wildcards', () => {
    const refused = [
      ...DEVICE_ROUTES.map((r) => topicFor(r, 'dev-2')),
      ...DEVICE_ROUTES.map((r) => topicFor(r, 'dev-12')),
      ...DEVICE_ROUTES.map((r) => topicFor(r, 'dev-')),
      ...DEVICE_ROUTES.map((r) => `${topicFor(r, 'dev-1')}/more`),
      ...DEVICE_ROUTES.map((r) => r.topicFilter),
      'devices/dev-1/acks',
      'devices/dev-1',
      'devices/dev-1/',
      'devices/#',
      '',
      '$aws/rules/x/devices/dev-1/records',
    ];
    for (const t of refused) {
      expect(devicePublishTopics('dev-1').includes(t), t).toBe(false);
      expect(mayPublishTo('dev-1', t), t).toBe(false);
    }
  });
});
