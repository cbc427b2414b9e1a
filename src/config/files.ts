/** The config files `sesame` reads from the working folder when no `--config` is given, first found wins. */
export const DEFAULT_CONFIG_FILES = ['sesame.yaml', 'sesame.yml', 'sesame.json'];
