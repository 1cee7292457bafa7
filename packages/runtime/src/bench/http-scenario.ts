/**
 * The HTTP scenario: the real Mandate server and a bare Node server (each in its own child
 * process), driven by the same generator at each concurrency, then an independent check of the
 * audit trail the Mandate child left on disk: one decision event per 200 answer, and the chain verifies.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditVerifyResult } from '@mandate/protocol';
import { openStore } from '../app/index.js';
import { KEY_FILES, keyIdOf, verifyAudit } from '../audit/index.js';
import { silentLogger } from '../kernel/index.js';
import { AnswerTally, launchServer, probe, runLoad, type HttpTarget } from './http.js';
import { countDecisionEvents } from './inprocess.js';
import type { Sample } from './measure.js';
import { EXAMPLE_AGENT_KEY, EXAMPLE_DECISION_BODY, mandateStatePaths } from './servers.js';

export interface HttpRow {
  concurrency: number;
  server: 'bare' | 'mandate';
  sample: Sample;
  /** Mandate rows: audit events and store transactions (fsyncs) during the row, warm-up included. */
  commits?: { events: number; transactions: number };
}

export interface HttpScenarioOptions {
  seconds: number;
  warmupSeconds: number;
  concurrencies: number[];
  where: 'child' | 'in-process';
  /** Temp dir for the Mandate child's SQLite file and keys. */
  dir: string;
  progress: (line: string) => void;
}

export interface HttpScenarioResult {
  rows: HttpRow[];
  /** Size of Mandate's decision answer, which the bare server sends back verbatim. */
  responseBytes: number;
  /** V8 flags the server children ran with. */
  childExecArgv: string[];
  /** The Mandate child's group-commit counters at shutdown. */
  mandateAudit?: { appended?: number; batches?: number };
  audit: {
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
  };
}

export async function runHttpScenario(o: HttpScenarioOptions): Promise<HttpScenarioResult> {
  o.progress(`http: starting Mandate (${o.where}, example config, SQLite synchronous=FULL in ${o.dir})…`);
  const mandate = await launchServer('mandate', { dir: o.dir }, o.where);
  let bare: Awaited<ReturnType<typeof launchServer>> | undefined;
  const tally = new AnswerTally();
  const bareTally = new AnswerTally();
  const rows: HttpRow[] = [];
  let mandateAudit: HttpScenarioResult['mandateAudit'];
  let responseBytes = 0;
  let stopped = false;
  try {
    const target: HttpTarget = {
      url: mandate.url,
      path: '/v1/decisions',
      headers: { authorization: `Bearer ${EXAMPLE_AGENT_KEY}` },
      body: EXAMPLE_DECISION_BODY,
    };
    const first = await probe(target, tally);
    const effect = first.status === 200 ? (JSON.parse(first.body) as { effect?: string }).effect : undefined;
    if (effect !== 'allow')
      throw new Error(`bench: the example request must be allowed; got ${first.status} ${first.body}`);
    responseBytes = Buffer.byteLength(first.body);

    o.progress(
      `http: starting the bare Node baseline (${o.where}, constant ${responseBytes}-byte JSON answer)…`,
    );
    bare = await launchServer('bare', { body: first.body }, o.where);
    const bareTarget: HttpTarget = { ...target, url: bare.url };

    for (const c of o.concurrencies) {
      const load = {
        concurrency: c,
        warmupMs: o.warmupSeconds * 1000,
        durationMs: o.seconds * 1000,
        minRequests: 20,
      };
      o.progress(`http c=${c}: bare Node baseline…`);
      rows.push({ concurrency: c, server: 'bare', sample: await runLoad(bareTarget, load, bareTally) });
      o.progress(`http c=${c}: Mandate POST /v1/decisions…`);
      const before = await mandate.stats();
      const sample = await runLoad(target, load, tally);
      const after = await mandate.stats();
      const commits =
        before && after
          ? { events: after.appended - before.appended, transactions: after.batches - before.batches }
          : undefined;
      rows.push({ concurrency: c, server: 'mandate', sample, ...(commits ? { commits } : {}) });
    }

    o.progress('http: stopping servers (Mandate flushes its audit and writes a final checkpoint)…');
    const stats = await mandate.stop();
    stopped = true;
    mandateAudit = stats.audit as HttpScenarioResult['mandateAudit'];
  } finally {
    if (!stopped) await mandate.stop().catch(() => undefined);
    await bare?.stop().catch(() => undefined);
  }

  o.progress('http: counting decision events and verifying the chain on disk…');
  const paths = mandateStatePaths(o.dir);
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
  const answers200 = tally.ok;
  return {
    rows,
    responseBytes,
    childExecArgv: mandate.execArgv,
    ...(mandateAudit ? { mandateAudit } : {}),
    audit: {
      answers200,
      decisionEvents,
      statuses: tally.statuses,
      effects: tally.effects,
      clientErrors: tally.clientErrors,
      verify,
      ok: decisionEvents === answers200 && verify.ok && tally.clientErrors === 0,
    },
  };
}
