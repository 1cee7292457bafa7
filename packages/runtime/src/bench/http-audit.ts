/**
 * The audit check after the HTTP rows: opens the SQLite file a Mandate child left behind, counts
 * its `decision` events against the 200 answers the generator received (warm-up and probes
 * included) and verifies the chain and its signed checkpoints with the child's public key.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditVerifyResult } from '@mandate/protocol';
import { openStore } from '../app/index.js';
import { KEY_FILES, keyIdOf, verifyAudit } from '../audit/index.js';
import { silentLogger } from '../kernel/index.js';
import type { AnswerTally } from './http.js';
import { countDecisionEvents } from './inprocess.js';
import { mandateStatePaths } from './servers.js';

export interface HttpAuditCheck {
  /** Which server (`Mandate (cedar engine)`, …). */
  server: string;
  /** 200 answers to POST /v1/decisions (warm-up and probe included). */
  answers200: number;
  /** `decision` events in the chain on disk after the child closed. */
  decisionEvents: number;
  statuses: Record<string, number>;
  effects: Record<string, number>;
  clientErrors: number;
  verify: AuditVerifyResult;
  /** events === answers200 && verify.ok && no client error hid an answer. */
  ok: boolean;
}

export async function checkHttpAudit(
  server: string,
  dir: string,
  tally: AnswerTally,
): Promise<HttpAuditCheck> {
  const paths = mandateStatePaths(dir);
  const publicKeyPem = await readFile(join(paths.keys, KEY_FILES.publicKey), 'utf8');
  const store = openStore(`sqlite:${paths.db}`, silentLogger);
  let decisionEvents: number;
  let verify: AuditVerifyResult;
  try {
    decisionEvents = await countDecisionEvents({ store });
    verify = await verifyAudit(store, { publicKeys: { [keyIdOf(publicKeyPem)]: publicKeyPem } });
  } finally {
    await store.close();
  }
  return {
    server,
    answers200: tally.ok,
    decisionEvents,
    statuses: tally.statuses,
    effects: tally.effects,
    clientErrors: tally.clientErrors,
    verify,
    ok: decisionEvents === tally.ok && verify.ok && tally.clientErrors === 0,
  };
}
