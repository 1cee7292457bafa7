// `GET /v1/approvals/:id?wait=` answers under the credential as it stands when the wait ends. A
// probe started the long poll with an approver key, revoked the key, and 3.6 s later got the whole
// record back, a vote cast after the revocation included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mandate } from '../../src/app/index.js';
import { KEYS, client, refund, type Client } from '../fixtures/http.js';
import { startExample } from '../gateway/helpers.js';

describe('a long poll on an approval, its key revoked during the wait', () => {
  let m: Mandate;
  let api: Client;
  beforeAll(async () => {
    let url: string;
    ({ m, url } = await startExample());
    api = client(url);
  });
  afterAll(async () => {
    await m?.close();
  });

  /** A pending approval of a refund over 500, and a fresh approver key of frank polling it. */
  async function polling(amount: number) {
    const d = await api.decide(KEYS.supportBot, refund(amount));
    expect(d.body.effect, d.text).toBe('approval_required');
    const approvalId = (d.body as { approval: { id: string } }).approval.id;
    const created = await api.post('/v1/keys', KEYS.admin, { role: 'approver', subject: 'frank' });
    expect(created.status, created.text).toBe(201);
    const { key, secret } = created.body as { key: { id: string }; secret: string };
    const poll = api.get(`/v1/approvals/${approvalId}?wait=10s`, secret);
    // The poll is waiting (its first read is done) before anything changes.
    await new Promise((r) => setTimeout(r, 500));
    return { approvalId, keyId: key.id, poll };
  }

  it('answers the decided approval while the key stands', async () => {
    const { approvalId, poll } = await polling(901);
    expect((await api.approve(approvalId, KEYS.frank)).status).toBe(200);
    const r = await poll;
    expect(r.status, r.text).toBe(200);
    expect(r.body.status).toBe('approved');
  });

  it('answers 401, not the record, once the key was revoked during the wait', async () => {
    const { approvalId, keyId, poll } = await polling(902);
    expect((await api.del(`/v1/keys/${keyId}`, KEYS.admin)).status).toBe(200);
    expect((await api.approve(approvalId, KEYS.frank)).status).toBe(200);
    const r = await poll;
    expect(r.status, r.text).toBe(401);
    expect(r.text).not.toContain('approved');
  });
});
