/**
 * IotControlPlane on the AWS IoT control plane (@aws-sdk/client-iot), for run-time device provisioning
 * (lib/devices/device-certificate.ts). Each method succeeds on a repeat: an existing thing, an attachment
 * already made, or something already deleted is what a retry after a crash finds, not an error.
 * Tested against moto's IoT (tests/aws/iot-provisioning.test.ts); never run against real AWS IoT.
 */
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  type IoTClient,
  ListThingPrincipalsCommand,
  UpdateCertificateCommand,
  UpdateThingCommand,
} from '@aws-sdk/client-iot';
import { CodedError } from '../../core/errors.js';
import type { IotCertificate, IotControlPlane } from '../../ports.js';

const nameOf = (e: unknown): string | undefined => {
  const n = (e as { name?: unknown }).name;
  return typeof n === 'string' ? n : undefined;
};

/** Runs `call`, taking the named AWS errors as "already so". */
async function tolerate(call: () => Promise<unknown>, ...names: string[]): Promise<void> {
  try {
    await call();
  } catch (e) {
    if (!names.includes(nameOf(e) ?? '')) throw e;
  }
}

/** AWS IoT answered a control-plane call without what it documents (the certificate of CreateCertificateFromCsr). */
export class IotControlPlaneError extends CodedError<'iot-answer-malformed'> {
  override readonly name = 'IotControlPlaneError';
}

export class IotControlPlaneClient implements IotControlPlane {
  constructor(private readonly iot: IoTClient) {}

  async ensureThing(thingName: string): Promise<void> {
    // CreateThing of an existing thing with the same (empty) configuration succeeds; with other attributes,
    // set by hand, it answers ResourceAlreadyExistsException: the thing is there either way.
    await tolerate(
      () => this.iot.send(new CreateThingCommand({ thingName })),
      'ResourceAlreadyExistsException',
    );
  }

  async deleteThing(thingName: string): Promise<void> {
    await tolerate(() => this.iot.send(new DeleteThingCommand({ thingName })), 'ResourceNotFoundException');
  }

  async thingAttributes(thingName: string): Promise<Record<string, string> | undefined> {
    try {
      const t = await this.iot.send(new DescribeThingCommand({ thingName }));
      return { ...(t.attributes ?? {}) };
    } catch (e) {
      if (nameOf(e) === 'ResourceNotFoundException') return undefined;
      throw e;
    }
  }

  async setThingAttributes(thingName: string, attributes: Record<string, string>): Promise<void> {
    await this.iot.send(new UpdateThingCommand({ thingName, attributePayload: { attributes, merge: true } }));
  }

  async listThingPrincipals(thingName: string): Promise<string[]> {
    const out: string[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const page = await this.iot.send(
          new ListThingPrincipalsCommand({ thingName, ...(nextToken ? { nextToken } : {}) }),
        );
        out.push(...(page.principals ?? []));
        nextToken = page.nextToken;
      } while (nextToken);
    } catch (e) {
      if (nameOf(e) === 'ResourceNotFoundException') return [];
      throw e;
    }
    // Only X.509 certificates provision devices here; other principal kinds (Cognito ids) are left alone.
    return out.filter((p) => /^arn:aws[a-z-]*:iot:[^:]*:[^:]*:cert\//.test(p));
  }

  async createCertificateFromCsr(csrPem: string): Promise<IotCertificate> {
    const out = await this.iot.send(
      new CreateCertificateFromCsrCommand({ certificateSigningRequest: csrPem, setAsActive: false }),
    );
    if (!out.certificateId || !out.certificateArn || !out.certificatePem)
      throw new IotControlPlaneError(
        'iot-answer-malformed',
        'CreateCertificateFromCsr returned no certificate',
      );
    return {
      certificateId: out.certificateId,
      certificateArn: out.certificateArn,
      certificatePem: out.certificatePem,
      status: 'INACTIVE',
    };
  }

  async describeCertificate(certificateId: string): Promise<IotCertificate | undefined> {
    try {
      const d = (await this.iot.send(new DescribeCertificateCommand({ certificateId })))
        .certificateDescription;
      if (!d?.certificateId || !d.certificateArn || !d.certificatePem || !d.status) return undefined;
      return {
        certificateId: d.certificateId,
        certificateArn: d.certificateArn,
        certificatePem: d.certificatePem,
        status: d.status,
      };
    } catch (e) {
      if (nameOf(e) === 'ResourceNotFoundException') return undefined;
      throw e;
    }
  }

  async setCertificateStatus(certificateId: string, status: 'ACTIVE' | 'INACTIVE'): Promise<void> {
    await this.iot.send(new UpdateCertificateCommand({ certificateId, newStatus: status }));
  }

  async deleteCertificate(certificateId: string): Promise<void> {
    await tolerate(
      () => this.iot.send(new DeleteCertificateCommand({ certificateId })),
      'ResourceNotFoundException',
    );
  }

  async attachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    await this.iot.send(new AttachThingPrincipalCommand({ thingName, principal: certificateArn }));
  }

  async detachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    await tolerate(
      () => this.iot.send(new DetachThingPrincipalCommand({ thingName, principal: certificateArn })),
      'ResourceNotFoundException',
    );
  }

  async attachPolicy(policyName: string, certificateArn: string): Promise<void> {
    await this.iot.send(new AttachPolicyCommand({ policyName, target: certificateArn }));
  }

  async detachPolicy(policyName: string, certificateArn: string): Promise<void> {
    await tolerate(
      () => this.iot.send(new DetachPolicyCommand({ policyName, target: certificateArn })),
      'ResourceNotFoundException',
    );
  }
}
