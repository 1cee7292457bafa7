import { lstat, realpath } from 'node:fs/promises';
import type { PathFs } from './paths.js';

/** This machine's filesystem, for tools that declare `paths.resolveSymlinks` (local stdio upstreams). */
export const localPathFs: PathFs = {
  realpath: (path) => realpath(path),
  lstat: (path) => lstat(path),
};
