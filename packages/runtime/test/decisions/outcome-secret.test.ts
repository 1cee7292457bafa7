// SECURITY (probe): `decision.outcome`'s `errorType` was checked for its charset only, which a key
// (`sk_live_…`, `mdt_…`), a JWT or a card number passes, and went into the hashed, unerasable
// record. An errorType shaped like a secret is refused (400 bad_request) and nothing is recorded.
import { afterEach, describe, expect, it } from 'vitest';
import { createTestMandate, disposeAll } from '../fixtures/mandate.js';
import { KEYS, client, expectError, ok200, refund, type Client, type Json } from '../fixtures/http.js';

afterEach(disposeAll);

const report = (api: Client, id: string, body: unknown) =>
  api.post(`/v1/decisions/${encodeURIComponent(id)}/outcome`, KEYS.supportBot, body);

async function audit(api: Client, query: string): Promise<Json[]> {
  const res = await api.get(`/v1/audit?limit=1000&${query}`, KEYS.admin);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

describe('a decision outcome’s errorType', () => {
  it('shaped like a secret is refused, not recorded; the reason does not repeat it', async () => {
    const t = await createTestMandate();
    const api = client(t.url);
    const d = ok200(await api.decide(KEYS.supportBot, refund(120)));
    const secrets = [
      'sk_live_LEAKERR31abcdefgh',
      'mdt_tH52KuPMosVvFGWlv0sQmgtVEItxKPqI',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWhlcmU',
      'AKIAIOSFODNN7EXAMPLE',
      '4111111111111111',
      'token:hunt3r-LEAK',
    ];
    for (const errorType of secrets) {
      const res = await report(api, d.decisionId, { status: 'error', durationMs: 5, errorType });
      expectError(res, 400, 'bad_request');
      expect(res.text).not.toContain(errorType);
    }
    expect(await audit(api, 'type=decision.outcome')).toHaveLength(0);
    const refused = JSON.stringify(await audit(api, 'type=request.refused'));
    for (const s of secrets) expect(refused).not.toContain(s);
    // A code-like name is still recorded.
    const ok = await report(api, d.decisionId, {
      status: 'error',
      durationMs: 5,
      errorType: 'stripe.card_declined:InsufficientFunds',
    });
    expect(ok.status, ok.text).toBe(201);
    expect((await audit(api, 'type=decision.outcome'))[0].event.data.errorType).toBe(
      'stripe.card_declined:InsufficientFunds',
    );
  });
});
