/**
 * The fix of a not-found error, by what was asked of the missing name: the same advice in every
 * store. Creating the secret fixes a missing read, not a missing version (the secret exists), a
 * delete (there is nothing to remove) or a restore (there is no deleted secret to bring back); a
 * secret that is deleted but recoverable is restored.
 *
 * @example
 * notFoundFix('delete'); // 'nothing to delete: check the name and the store prefix'
 * notFoundFix('read', { check: 'the name, the region and the store prefix' });
 * notFoundFix('read', { create: 'set APP_DB in the environment', check: 'the name' });
 * notFoundFix('version', { name: 'db/password' });
 * notFoundFix('deleted', { name: 'db/password', alternative: 'vault kv undelete' });
 */

/**
 * What was asked of a name the store does not hold: a read, a pinned version or label, a delete,
 * a restore; or `deleted`: the name holds a deleted secret the store can still restore.
 */
export type NotFoundAsked = 'read' | 'version' | 'stage' | 'delete' | 'restore' | 'deleted';

export interface NotFoundFixOptions {
  /** What locates a name in this store, after "check": default "the name and the store prefix". */
  check?: string | undefined;
  /** How this store's secret comes to be, for a missing read: default "create the secret". */
  create?: string | undefined;
  /** The name asked for, to give the exact `sesame secrets versions <name>` command. */
  name?: string | undefined;
  /** Why a restore found no deleted secret, in the provider's terms: default "deleted for good, or never created". */
  gone?: string | undefined;
  /** For `deleted`: the provider's own way to bring it back, offered after Sesame's command. */
  alternative?: string | undefined;
}

/** The fix for a name (or a version of it) the store does not hold. */
export function notFoundFix(asked: NotFoundAsked, options: NotFoundFixOptions = {}): string {
  const check = `check ${options.check ?? 'the name and the store prefix'}`;
  const name = options.name ?? '<name>';
  const versions = `\`sesame secrets versions${options.name === undefined ? '' : ` ${options.name}`}\` lists them`;
  switch (asked) {
    case 'read':
      return `${options.create ?? 'create the secret'}, or ${check}`;
    case 'version':
      return `pin a version the secret has (${versions}), or leave ?version= out for the latest`;
    case 'stage':
      return `pin a label the secret has (${versions}), or leave ?stage= out for the current value`;
    case 'delete':
      return `nothing to delete: ${check}`;
    case 'restore':
      return `nothing to restore: no deleted secret has this name (${options.gone ?? 'deleted for good, or never created'}); ${check}`;
    case 'deleted':
      return `restore it with \`sesame secrets restore ${name}\`${options.alternative ? `, or ${options.alternative}` : ''}`;
  }
}
