import { existsSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../config/index.js';

/**
 * The directory the dashboard is served from: `dashboard.dir` (relative to the config file), else
 * `apps/dashboard/dist` of this installation (this file is packages/runtime/{src,dist}/app/…).
 */
export function dashboardDir(loaded: LoadedConfig): string {
  const dir = loaded.config.dashboard.dir;
  if (dir) return resolvePath(loaded.baseDir, dir);
  return fileURLToPath(new URL('../../../../apps/dashboard/dist', import.meta.url));
}

/** The line `mandate serve` prints for the dashboard, or none when it is turned off. */
export function dashboardNotice(loaded: LoadedConfig, url: string): string[] {
  if (!loaded.config.dashboard.enabled) return [];
  const built = existsSync(join(dashboardDir(loaded), 'index.html'));
  return [`  dashboard: ${url}/ui/${built ? '' : ' (not built yet: run npm install)'}`];
}
