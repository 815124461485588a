/**
 * Replies to devices (acks, upload grants) go out through the AWS IoT Data Plane Publish API, at QoS 1, on
 * the device's own reply topics. In the embedded runtime the MQTT router publishes them on the local broker;
 * both take the same OutgoingMessage list from lib/ingest/ingest-handler.ts.
 */
import { type IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';

export interface OutgoingReply {
  topic: string;
  payload: string;
}

export interface ReplyPublisher {
  /** Resolves once every message was accepted by the broker; rejects if any was not. */
  publish(messages: readonly OutgoingReply[]): Promise<void>;
}

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
