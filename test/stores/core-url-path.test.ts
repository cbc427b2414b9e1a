/** The core's urlPathSetting: settings that become part of a URL path cannot climb out of it or escape it. */
import { describe, expect, it } from 'vitest';
import { noDotSegments, urlPathSetting } from '../../src/stores/core/url-path.js';

describe('urlPathSetting', () => {
  const mount = urlPathSetting('mount', 'secret or kv/team-a');
  const messages = (value: string) => mount.safeParse(value).error?.issues.map((i) => i.message) ?? [];

  it('takes paths of plain segments, with or without slashes', () => {
    for (const ok of ['secret', 'kv/team-a', '/kv/', 'apps/', '', 'a.b/c..d', 'é/ü']) {
      expect(mount.safeParse(ok).success, ok).toBe(true);
    }
  });

  it('refuses "." and ".." segments, naming the setting and an example', () => {
    for (const bad of ['..', '.', '../sys', 'kv/../../sys/seal', 'kv/./x', 'a/..']) {
      expect(messages(bad), bad).toEqual([
        'mount may not contain "." or ".." path segments (e.g. secret or kv/team-a)',
      ]);
    }
  });

  it('refuses characters that end or escape a URL path', () => {
    for (const bad of ['kv?list=true', 'kv#x', 'kv%2f..', 'kv\\x', 'kv\nx', 'kv\u007fx']) {
      expect(messages(bad), JSON.stringify(bad)).toEqual([
        'mount may not contain control characters, "?", "#", "%" or "\\"',
      ]);
    }
  });

  it('chains like any string schema', () => {
    const required = urlPathSetting('prefix', 'apps/').min(1);
    expect(required.safeParse('').success).toBe(false);
    expect(required.safeParse('apps/').success).toBe(true);
    expect(noDotSegments('a/b')).toBe(true);
    expect(noDotSegments('a/../b')).toBe(false);
  });
});
