import type { Catalog, CatalogEntry } from './catalog.js';
import type { GatewayContext } from './options.js';
import { listAll, type Conn } from './upstream-connection.js';

/**
 * Lists the tools of one upstream connection (every page) and checks each definition against its
 * pin as every listing does (`catalog.absorb`: a new or changed one quarantined and recorded), then
 * keeps on the connection what it listed — the definition hash of each tool — by which the calls
 * going over it are judged. A failed listing leaves the connection unlisted: no call goes over it
 * until a listing succeeds.
 *
 * SECURITY: every connection lists for itself. The start-up listing's process, or another session's,
 * says nothing of what this one runs: a stdio upstream is a process per session (`npx -y pkg` may
 * have resolved a new version since), an HTTP upstream a session of its own, and an upstream can
 * tell the start-up listing (no client capabilities, no calls) from a session and show each its own
 * definition. A probe's calls ran on a changed definition, recorded against the old pin's hash.
 */
export function listConnTools(ctx: GatewayContext, catalog: Catalog, conn: Conn): Promise<CatalogEntry[]> {
  const run = (async () => {
    try {
      // An upstream that declares no tools on this connection offers none on it, whatever another
      // connection listed (its catalogue entries stay: the listing saw nothing to replace them).
      if (!conn.caps.tools) {
        conn.listed = new Map();
        return [];
      }
      const entries = await catalog.absorb(conn.cfg, await listAll(ctx, conn, 'tools/list', 'tools'));
      conn.listed = new Map(entries.map((e) => [e.tool, e.hash]));
      return entries;
    } catch (err) {
      conn.listed = null;
      throw err;
    }
  })();
  const settled: Promise<void> = run
    .then(
      () => undefined,
      () => undefined,
    )
    .finally(() => {
      if (conn.listing === settled) conn.listing = null;
    });
  conn.listing = settled;
  return run;
}

/**
 * What a call on `conn` waits for before it is judged: the connection's listing in flight (one just
 * opened or re-opened lists its tools first), then a new one when none has succeeded (its listing
 * failed). Undefined — nothing to wait for — on the hot path: a connection listed and not listing.
 * Never rejects: a connection still unlisted afterwards is not used (the call says why).
 */
export function whenListed(ctx: GatewayContext, catalog: Catalog, conn: Conn): Promise<void> | undefined {
  if (conn.listed && !conn.listing) return undefined;
  return (async () => {
    await conn.listing;
    if (conn.listed) return;
    await listConnTools(ctx, catalog, conn).catch((err: unknown) =>
      ctx.logger.warn("could not list an upstream connection's tools: no call goes over it", {
        server: conn.cfg.name,
        error: (err as Error)?.message,
      }),
    );
  })();
}
