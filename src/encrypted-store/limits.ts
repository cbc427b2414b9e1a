/** Defaults of the builtin store, apart from its engine so settings can be validated without loading it. */
export const DEFAULT_MAX_VALUE_SIZE = 65_536;
export const DEFAULT_RECOVERY_WINDOW_MS = 7 * 86_400_000;
