// SECURITY (probe): `request.refused` records carried request-supplied text verbatim in
// `data.reason` — a secret-shaped key name (`duplicate key "sk_live_…"`, `Unrecognized key:
// "sk_live_…"`), a JWT used as a key in a path, a query value (`unknown status sk_live_…`) — into
// the hashed, unerasable chain. The recorder is the safety net under every source: each reason
// goes through the free-text secret-shape redaction before it is recorded.
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@mandate/protocol';
import { createRefusalRecorder } from '../../src/audit/index.js';
import { REDACTED_SECRET as S } from '../../src/audit/redact.js';
import { createManualClock, silentLogger } from '../../src/kernel/index.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJMRUFLNTEifQ.c2lnTEVBSzUxc2lnbmF0dXJl';

async function recorded(reason: string): Promise<unknown> {
  const out: Omit<AuditEvent, 'time' | 'nodeId'>[] = [];
  const r = createRefusalRecorder({
    clock: createManualClock(),
    logger: silentLogger,
    record: async (e) => void out.push(e),
  });
  await r.refused({
    code: 'bad_request',
    reason,
    route: 'decision',
    caller: { role: 'agent', subject: 'bot', keyId: 'k1' },
  });
  await r.close();
  expect(out.map((e) => e.type)).toEqual(['request.refused']);
  return out[0]!.data.reason;
}

describe('a refusal’s recorded reason', () => {
  it('replaces a secret-shaped span — a key, a JWT, a Bearer token — and keeps the rest', async () => {
    expect(await recorded('duplicate key "sk_live_LEAKDUP16abcdefgh" in the JSON body')).toBe(
      `duplicate key "${S}" in the JSON body`,
    );
    expect(await recorded('Unrecognized key: "sk_live_LEAKZOD52abcdefgh"')).toBe(`Unrecognized key: "${S}"`);
    expect(await recorded(`args["${JWT}"].x: must be string`)).toBe(`args["${S}"].x: must be string`);
    expect(await recorded('unknown status sk_live_LEAKQ54abcdefghij')).toBe(`unknown status ${S}`);
    expect(await recorded('header was Bearer abc123DEF456ghi789, not a key')).toBe(
      `header was ${S}, not a key`,
    );
  });

  it('keeps an ordinary reason as it is', async () => {
    for (const reason of [
      'args.amount: must be <= 1000000',
      'agent support-bot may not act as trade-bot',
      'no',
      'the request body is not valid JSON',
    ])
      expect(await recorded(reason)).toBe(reason);
  });
});
