// An upstream that changes a tool's definition at every listing and sends list_changed in a burst
// must not flood the audit trail. Found by a black-box probe: 100 notifications in a row were 100
// re-listings, each pinning a new 100 KB definition and writing a `tool.quarantined` record that
// carried it whole (~99 records; database and WAL 1.5 → 28 MB in a second).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Mandate } from '../../src/app/index.js';
import { QUARANTINE_RECORD_MAX_DEFINITION_BYTES } from '../../src/gateway/pins.js';
import { eventually, mcpClient, readLog } from './helpers.js';
import { startLogged, unrulyUpstream } from './unruly.js';

const ACTIONS = ['up.echo', 'up.flood', 'up.flip', 'up.smallflip'];
const N = 100;

interface QuarantineRecord {
  action: string;
  data: { tool: string; hash: string; reason: string; definition?: { description: string } };
}

describe('MCP gateway: a burst of list_changed with changing definitions is bounded on the record', () => {
  let m: Mandate;
  let url: string;
  let client: Client;
  let announced = 0;
  const listLog = join(tmpdir(), `gw-flood-${process.pid}-${Date.now()}-lists.jsonl`);

  beforeAll(async () => {
    ({ m, url } = await startLogged(
      { upstreams: [unrulyUpstream('up', { FLIP: '1', SMALL_FLIP: '1', LIST_LOG: listLog })] },
      ACTIONS,
    ));
    await m.gateway!.refresh();
    client = await mcpClient(url, 'secret-bot-key');
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      announced++;
    });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await m?.close();
  });

  const records = async (tool: string) =>
    (await m.store.queryAudit({ type: 'tool.quarantined', limit: 1000 }))
      .map((r) => ({ size: r.eventText.length, rec: JSON.parse(r.eventText) as QuarantineRecord }))
      .filter((r) => r.rec.data.tool === tool);

  it(`${N} list_changed in a row: a few listings, a few records, each small; the pin keeps the definition`, async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('up.flood');
    // The session's own upstream process (the one that answers the call) lists from here on.
    const before = readLog(listLog).length;
    const r = await client.callTool({ name: 'up.flood', arguments: { n: N } });
    expect(r.isError).toBeFalsy();
    // Wait until the re-listing has settled (no new listing for a while).
    let last = -1;
    await eventually(
      async () => {
        await new Promise((res) => setTimeout(res, 300));
        const n = readLog(listLog).length;
        const settled = n === last && announced > 0;
        last = n;
        return settled;
      },
      (settled) => settled,
    );
    const relistings = readLog(listLog).length - before;
    expect(relistings).toBeGreaterThanOrEqual(1);
    expect(relistings).toBeLessThanOrEqual(5);
    // The client still hears of the change (once per listing, not once per upstream notification).
    expect(announced).toBeGreaterThanOrEqual(1);
    expect(announced).toBeLessThanOrEqual(relistings);

    const flip = await records('flip');
    expect(flip.length).toBeGreaterThanOrEqual(1);
    expect(flip.length).toBeLessThanOrEqual(5);
    for (const { size, rec } of flip) {
      expect(size).toBeLessThan(4096);
      expect(rec.action).toBe('up.flip');
      expect(rec.data.definition).toBeUndefined();
    }
    // What the admin reviews is on the pin, whole.
    const pin = (await m.store.getToolPin('up', 'flip'))!;
    expect(pin.status).toBe('quarantined');
    expect(flip.map((r) => r.rec.data.hash)).toContain(pin.hash);
    expect(String(pin.definition.description).length).toBeGreaterThan(100_000);
  });

  it('a small changed definition is still recorded whole when first quarantined', async () => {
    const small = await records('smallflip');
    expect(small.length).toBeGreaterThanOrEqual(1);
    expect(small.length).toBeLessThanOrEqual(5);
    // The first change of an approved definition: recorded whole; later ones by their hash.
    const whole = small.filter((r) => r.rec.data.definition !== undefined);
    expect(whole).toHaveLength(1);
    expect(whole[0]!.rec.data.definition!.description).toMatch(/^small v\d+$/);
    for (const { size } of small) expect(size).toBeLessThan(QUARANTINE_RECORD_MAX_DEFINITION_BYTES + 4096);
  });

  it('a big definition is approved by the hash on its pin; the approval record stays bounded', async () => {
    const pin = (await m.store.getToolPin('up', 'flip'))!;
    const res = await fetch(`${url}/v1/tools/up.flip/approve`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret-admin-key', 'content-type': 'application/json' },
      body: JSON.stringify({ hash: pin.hash }),
    });
    expect(res.status).toBe(200);
    const [approved] = await m.store.queryAudit({ type: 'tool.approved', limit: 1 });
    expect(approved!.eventText.length).toBeLessThan(4096);
    expect(approved!.eventText).toContain(pin.hash);
  });
});
