/**
 * ReplyPublisher (lib/ports.ts) on AWS: replies to devices (acks, upload grants) go out through the AWS IoT
 * Data Plane Publish API, at QoS 1, on the device's own reply topics. The ingest Lambda hands it the
 * OutgoingMessage list of lib/ingest/ingest-handler.ts; in the embedded runtime the MQTT router publishes the
 * same replies on the local broker.
 */
import { type IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import type { OutgoingReply, ReplyPublisher } from '../../ports.js';

export class IotDataReplyPublisher implements ReplyPublisher {
  constructor(private readonly iot: IoTDataPlaneClient) {}

  async publish(messages: readonly OutgoingReply[]): Promise<void> {
    const results = await Promise.allSettled(
      messages.map((m) =>
        this.iot.send(
          new PublishCommand({
            topic: m.topic,
            qos: 1,
            payload: new TextEncoder().encode(m.payload),
          }),
        ),
      ),
    );
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, reason: r.reason }] : []));
    if (failed.length > 0) {
      throw new Error(
        `${failed.length} of ${messages.length} replies not published (first: ${messages[failed[0]?.i ?? 0]?.topic}: ${String((failed[0]?.reason as Error)?.message ?? failed[0]?.reason)})`,
        { cause: failed[0]?.reason },
      );
    }
  }
}
