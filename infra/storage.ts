/**
 * The object bucket's lifecycle on AWS: what the embedded runtime's staged-upload sweep does
 * (lib/ingest/retention.ts), done by S3 itself. The bucket is versioned, so expiring an object only puts a
 * delete marker on top of it; the bytes go only when the noncurrent version expires, and the marker once it
 * is alone. docs/deploy.md explains each number.
 */
import { STAGED_UPLOAD_PREFIX } from '../lib/ingest/retention.js';

/**
 * Days after it was stored that S3 expires a staged upload no manifest claimed. At least the longest a
 * presigned URL can live (7 days, UPLOAD_TTL_SECONDS' maximum on AWS), so no upload expires while its URL
 * still works. S3 counts from the object's creation and rounds to the next midnight UTC.
 */
export const STAGED_UPLOAD_EXPIRY_DAYS = 7;

/**
 * Days a noncurrent version under uploads/ is kept: the version behind the delete marker an expiry adds, and
 * the staged copy ingest deletes once the record is stored under records/ (it was copied there, so one day
 * of grace is plenty).
 */
export const STAGED_UPLOAD_NONCURRENT_DAYS = 1;

/** What the lifecycle rules of aws.s3.BucketLifecycleConfiguration take (the subset used here). */
export interface LifecycleRule {
  id: string;
  status: 'Enabled';
  filter: { prefix: string };
  expiration?: { days: number } | { expiredObjectDeleteMarker: true };
  noncurrentVersionExpiration?: { noncurrentDays: number };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
}

/**
 * The bucket's lifecycle rules, whole. SST's own `lifecycle` argument knows only current-version expiry, so
 * sst.config.ts sets these through the lifecycle transform.
 */
export function objectLifecycleRules(): LifecycleRule[] {
  return [
    {
      id: 'abandoned-uploads',
      status: 'Enabled',
      filter: { prefix: STAGED_UPLOAD_PREFIX },
      expiration: { days: STAGED_UPLOAD_EXPIRY_DAYS },
      noncurrentVersionExpiration: { noncurrentDays: STAGED_UPLOAD_NONCURRENT_DAYS },
      // Presigned uploads are single PUTs; a multipart upload here was started by nobody we know.
      abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
    },
    {
      // An expiry's delete marker with no version left behind it is removed, so the prefix empties.
      id: 'abandoned-uploads-markers',
      status: 'Enabled',
      filter: { prefix: STAGED_UPLOAD_PREFIX },
      expiration: { expiredObjectDeleteMarker: true },
    },
  ];
}
