/**
 * A setting that becomes part of a URL path on the provider's API (a mount, a namespace, a
 * prefix of secret paths): `.` and `..` segments would climb out of it to any other endpoint of
 * the server, and control characters, `?`, `#`, `%` and `\` would end or escape the path, so all
 * are refused, with a message naming the setting and a good example.
 *
 * @example
 * mount: urlPathSetting('mount', 'secret or kv/team-a').min(1).default('secret'),
 */
import { z } from 'zod';

/** No `.` or `..` segment between slashes. */
export const noDotSegments = (path: string): boolean =>
  !path.split('/').some((segment) => segment === '.' || segment === '..');

/** A string setting that is safe as part of a URL path; `what` names it, `example` shows a good value. */
export function urlPathSetting(what: string, example: string): z.ZodString {
  return (
    z
      .string()
      // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
      .refine((s) => !/[\u0000-\u001f\u007f?#%\\]/.test(s), {
        message: `${what} may not contain control characters, "?", "#", "%" or "\\"`,
      })
      .refine(noDotSegments, {
        message: `${what} may not contain "." or ".." path segments (e.g. ${example})`,
      })
  );
}
