/**
 * IotDataReplyPublisher against the IoT Data Plane STAND-IN (support/iot-data-stand-in.ts; no emulator
 * exists, never run against real AWS IoT): the Publish request the API reference documents, and failure
 * reported so the ingest Lambda fails and is retried.
 */
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IotDataReplyPublisher } from '../../lib/adapters/aws/iot-reply-publisher.js';
import { TEST_CREDENTIALS, TEST_REGION } from './support/emulators.js';
import { type IotDataStandIn, startIotDataStandIn } from './support/iot-data-stand-in.js';

describe('IotDataReplyPublisher', () => {
  let iot: IotDataStandIn;
  let client: IoTDataPlaneClient;
  beforeAll(async () => {
    iot = await startIotDataStandIn();
    client = new IoTDataPlaneClient({
      endpoint: iot.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
  });
  afterAll(async () => {
    client.destroy();
    await iot.close();
  });

  it('publishes each reply at QoS 1 on its topic, the payload as the raw body', async () => {
    const publisher = new IotDataReplyPublisher(client);
    await publisher.publish([
      { topic: 'devices/d-1/acks', payload: '{"v":1,"acks":[{"seq":0,"status":"stored"}]}' },
      { topic: 'devices/d-1/uploads/grant', payload: '{"v":1}' },
    ]);
    expect(iot.published.map((m) => [m.topic, m.qos, m.payload.toString()])).toEqual([
      ['devices/d-1/acks', 1, '{"v":1,"acks":[{"seq":0,"status":"stored"}]}'],
      ['devices/d-1/uploads/grant', 1, '{"v":1}'],
    ]);
  });

  it('rejects when any reply is not accepted, naming it', async () => {
    const publisher = new IotDataReplyPublisher(
      new IoTDataPlaneClient({
        endpoint: iot.endpoint,
        region: TEST_REGION,
        credentials: TEST_CREDENTIALS,
        maxAttempts: 1,
      }),
    );
    iot.failNext(1);
    await expect(publisher.publish([{ topic: 'devices/d-2/acks', payload: '{}' }])).rejects.toThrow(
      /1 of 1 replies not published \(first: devices\/d-2\/acks/,
    );
  });
});
