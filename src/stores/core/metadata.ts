/**
 * Secret metadata from what a provider answers, the same way for every adapter: dates as ISO
 * 8601 text, tags copied (an empty set left out), fields the provider did not send left out;
 * and the prefix and tag filters of a listing, for providers that filter nothing server-side.
 *
 * @example
 * pick: (item) => {
 *   const name = names.fromId(item.id);
 *   if (!listingMatches(name, item.tags, options)) return undefined;
 *   return secretMetadata(name, { tags: item.tags, createdAt: item.created });
 * },
 */
import type { ListOptions, SecretMetadata } from '../contract.js';

/** A `google.protobuf.Timestamp` as gRPC and REST clients decode it (seconds may be a Long or text). */
export interface ProtobufTimestamp {
  seconds?: unknown;
  nanos?: unknown;
}

export type ProviderTime = Date | string | ProtobufTimestamp | null | undefined;

/** A provider's time (a Date, ISO text, a protobuf Timestamp) as ISO 8601, or undefined when absent or invalid. */
export function isoTime(time: ProviderTime): string | undefined {
  if (time === null || time === undefined) return undefined;
  let ms: number;
  if (typeof time === 'string') ms = Date.parse(time);
  else if (time instanceof Date) ms = time.getTime();
  else if (time.seconds === undefined || time.seconds === null) return undefined;
  else ms = Number(time.seconds) * 1000 + Math.floor(Number(time.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

export interface ProviderMetadata {
  version?: string | null | undefined;
  description?: string | null | undefined;
  tags?: Readonly<Record<string, string>> | null | undefined;
  createdAt?: ProviderTime;
  updatedAt?: ProviderTime;
  deletedAt?: ProviderTime;
  purgeAt?: ProviderTime;
}

/** The metadata of `name`, with only the fields the provider gave (in the contract's order). */
export function secretMetadata(name: string, fields: ProviderMetadata): SecretMetadata {
  const out: SecretMetadata = { name };
  if (fields.version) out.version = fields.version;
  if (fields.description) out.description = fields.description;
  if (fields.tags && Object.keys(fields.tags).length > 0) out.tags = { ...fields.tags };
  for (const key of ['createdAt', 'updatedAt', 'deletedAt', 'purgeAt'] as const) {
    const time = isoTime(fields[key]);
    if (time !== undefined) out[key] = time;
  }
  return out;
}

/**
 * Whether a listed secret passes a listing's filters: a name the adapter could map (not
 * undefined), starting with `options.prefix`, carrying every tag of `options.tags`.
 */
export function listingMatches(
  name: string | undefined,
  tags: Readonly<Record<string, string>> | null | undefined,
  options: Pick<ListOptions, 'prefix' | 'tags'>,
): name is string {
  if (name === undefined || (options.prefix && !name.startsWith(options.prefix))) return false;
  return Object.entries(options.tags ?? {}).every(([k, v]) => tags?.[k] === v);
}
