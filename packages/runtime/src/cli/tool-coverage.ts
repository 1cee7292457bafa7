import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ToolsDocumentSchema } from '@mandate/protocol';
import { parseJsonStrict, silentLogger } from '../kernel/index.js';
import type { LoadedConfig } from '../config/index.js';
import { openStore } from '../app/index.js';
import type { ToolPin } from '../storage/port.js';
import { pinActionIn } from '../gateway/index.js';

/** A registered or pinned tool whose action the policy schema does not declare: hidden and always denied. */
export interface UndeclaredTool {
  action: string;
  /** `tools file`, or `upstream <name>` for a pinned MCP tool. */
  source: string;
}

/** The action of a pinned upstream tool under the configured upstreams, or null for an upstream no longer configured. */
export function pinAction(loaded: LoadedConfig, pin: Pick<ToolPin, 'server' | 'tool'>): string | null {
  return pinActionIn(loaded.config.gateway.upstreams, pin);
}

/**
 * The tools a policy schema leaves out: the config's tools file, and the approved upstream tools
 * pinned in the configured store (read only; a store that does not exist yet is not created).
 */
export async function undeclaredTools(
  loaded: LoadedConfig,
  declared: ReadonlySet<string>,
): Promise<UndeclaredTool[]> {
  const out: UndeclaredTool[] = [];
  const { config } = loaded;
  if (config.tools && existsSync(config.tools)) {
    const doc = ToolsDocumentSchema.parse(parseJsonStrict(await readFile(config.tools, 'utf8')));
    for (const t of doc.tools)
      if (!declared.has(t.action)) out.push({ action: t.action, source: 'tools file' });
  }
  if (config.gateway.upstreams.length > 0 && storeExists(config.store)) {
    const store = openStore(config.store, silentLogger);
    try {
      for (const pin of await store.listToolPins()) {
        const action = pinAction(loaded, pin);
        if (pin.status === 'approved' && action && !declared.has(action))
          out.push({ action, source: `upstream ${pin.server}` });
      }
    } catch {
      // A store without pins (never migrated, unreachable): nothing to compare.
    } finally {
      await store.close().catch(() => undefined);
    }
  }
  return out;
}

function storeExists(url: string): boolean {
  if (url === 'memory') return false;
  if (url.startsWith('sqlite:')) return existsSync(url.slice('sqlite:'.length));
  return true;
}
