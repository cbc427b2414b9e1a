/**
 * `?version=` for providers whose versions are counted 1, 2, 3… (Vault KV v2, Conjur, Infisical).
 * Anything else cannot name a version there: it is a mistake in the reference, refused as an
 * invalid request before the provider is asked, not reported as a missing secret (which would
 * hide the typo behind "not found").
 *
 * @example
 * const version = numberedVersion(this.#core.tag, 'Conjur', request.version);
 */
import { InvalidRequestError } from '../../errors.js';

const NUMBERED = /^[1-9]\d*$/;

/** `version` when it is a version number (or undefined), else an {@link InvalidRequestError}. */
export function numberedVersion(
  tag: string,
  provider: string,
  version: string | undefined,
): string | undefined {
  if (version === undefined || NUMBERED.test(version)) return version;
  const err = new InvalidRequestError(
    `${tag} ${provider} versions are numbers: ?version=${version} cannot be one`,
  );
  err.fix = `pin a version number (?version=1, ?version=2…), or drop ?version= to read the current value`;
  throw err;
}
