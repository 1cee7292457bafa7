import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { Mandate } from '../../src/app/index.js';
import { FIXTURES, startMandate } from './helpers.js';

const run = promisify(execFile);
const CLI = fileURLToPath(
  new URL('../../../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url),
);

// Actions are declared in the Cedar schema: the engine denies actions its schema does not know.
const CONF_ACTIONS = [
  'test_simple_text',
  'test_image_content',
  'test_audio_content',
  'test_embedded_resource',
  'test_multiple_content_types',
  'test_tool_with_logging',
  'test_tool_with_progress',
  'test_error_handling',
  'test_sampling',
  'test_elicitation',
  'resources_read',
  'resources_subscribe',
  'resources_unsubscribe',
  'prompts_get',
];

/** Scenarios the fixture server does not implement: they fail directly, so they are not compared. */
const NOT_IMPLEMENTED = new Set(['elicitation-sep1034-defaults', 'elicitation-sep1330-enums']);

/** Runs the conformance suite's server scenarios against `url`; returns scenario → passed. */
async function conformance(url: string): Promise<Map<string, boolean>> {
  const { stdout } = await run(process.execPath, [CLI, 'server', '--url', url], {
    timeout: 90_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const out = new Map<string, boolean>();
  for (const m of stdout.matchAll(/^([✓✗]) ([\w-]+): (\d+) passed, (\d+) failed/gmu))
    out.set(m[2]!, m[1] === '✓');
  return out;
}

/**
 * The suite cannot send a bearer key, so the gateway run goes through a loopback proxy that adds
 * the agent's key and changes nothing else (Host and Origin pass through untouched).
 */
function authProxy(target: string, key: string): Promise<Server> {
  const t = new URL(target);
  const server = createServer((req, res) => {
    const up = request(
      {
        host: t.hostname,
        port: t.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, authorization: `Bearer ${key}` },
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('transparency: the conformance suite through the gateway', () => {
  let upstream: ChildProcess;
  let upstreamUrl: string;
  let m: Mandate;
  let proxy: Server;
  let gatewayUrl: string;

  beforeAll(async () => {
    upstream = spawn(process.execPath, [join(FIXTURES, 'conformance-server.mjs'), '--http'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    upstreamUrl = await new Promise<string>((resolve) =>
      createInterface({ input: upstream.stdout! }).once('line', resolve),
    );
    let url: string;
    ({ m, url } = await startMandate({
      schema:
        'entity Agent = { roles: Set<String>, status: String };\nentity Tool;\n' +
        CONF_ACTIONS.map((a) => `action "conf.${a}" appliesTo { principal: [Agent], resource: Tool };`).join(
          '\n',
        ),
      policies: '@id("conformance-bot-all") permit (principal is Agent, action, resource);\n',
      entities: {
        agents: [{ id: 'bot', roles: [], status: 'active', attributes: {} }],
        users: [],
        resources: [],
      },
      gateway: {
        upstreams: [{ name: 'conf', url: upstreamUrl, trustOnFirstUse: true, exposeBareNames: true }],
        callTimeoutMs: 20_000,
      },
    }));
    proxy = await authProxy(url, 'secret-bot-key');
    gatewayUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/mcp`;
  }, 60_000);

  afterAll(async () => {
    proxy?.closeAllConnections();
    await new Promise((r) => proxy?.close(r));
    await m?.close();
    upstream?.kill();
  });

  it('passes every scenario through the gateway that the server passes directly', async () => {
    // The suite itself now and then loses a scenario to a timing race (seen on tools-call-sampling:
    // a round trip that never completes, 60 s, directly against the fixture). One more run of a
    // side that lost a scenario keeps a chance loss out of the comparison; a real difference is
    // deterministic and shows in both runs.
    const rerunIfLost = async (
      url: string,
      results: Map<string, boolean>,
      wanted: (n: string) => boolean,
    ) => {
      if (![...results].some(([n, ok]) => !ok && wanted(n))) return results;
      for (const [n, ok] of await conformance(url)) if (ok) results.set(n, true);
      return results;
    };
    const direct = await rerunIfLost(
      upstreamUrl,
      await conformance(upstreamUrl),
      (n) => !NOT_IMPLEMENTED.has(n),
    );
    const passedDirect = [...direct].filter(([, ok]) => ok).map(([name]) => name);
    expect(passedDirect.length).toBeGreaterThanOrEqual(25);
    const gateway = await rerunIfLost(gatewayUrl, await conformance(gatewayUrl), (n) =>
      passedDirect.includes(n),
    );
    const lost = passedDirect.filter((name) => gateway.get(name) !== true);
    expect(lost).toEqual([]);
    // Every call through the gateway was decided and audited.
    const decisions = await m.store.queryAudit({ type: 'decision', limit: 1000 });
    expect(decisions.length).toBeGreaterThan(10);
  }, 300_000);
});
