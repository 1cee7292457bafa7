import { ConfigSchema } from './packages/runtime/dist/config/index.js';
import { createMandate } from './packages/runtime/dist/app/index.js';
import { silentLogger } from './packages/runtime/dist/kernel/index.js';
import fs from 'node:fs';
const storeKind = process.argv[2] ?? 'sqlite';
fs.rmSync('/tmp/dp/m.db', {force:true}); fs.rmSync('/tmp/dp/m.db-wal', {force:true}); fs.rmSync('/tmp/dp/m.db-shm', {force:true});
const config = ConfigSchema.parse({ store: storeKind === 'sqlite' ? 'sqlite:/tmp/dp/m.db' : 'memory', policies: { dir: '/tmp/dp/policies' }, entities: '/tmp/dp/entities.json', tools: '/tmp/dp/tools.json', keys: { dir: '/tmp/dp/keys' }, log: { level: 'silent' } });
const m = await createMandate({ config, file: '/tmp/dp/c.json', baseDir: '/tmp/dp', nodeId: 'x' }, { logger: silentLogger });
const caller = { role: 'agent', subject: 'bench-bot', keyId: 'k' };
const one = (i) => m.decisions.decide({ agent: 'bench-bot', onBehalfOf: null, action: 'echo.echo', args: { text: 'call ' + i }, approvalId: null }, caller);
for (let i = 0; i < 500; i++) await one(i);
const lat = [];
for (let i = 0; i < 3000; i++) { const t = performance.now(); const o = await one(i); if (o.decision.effect !== 'allow') throw new Error(JSON.stringify(o.decision)); lat.push(performance.now() - t); }
lat.sort((a, b) => a - b);
console.log(storeKind, 'decide c1 p50', lat[1500].toFixed(3), 'p99', lat[2970].toFixed(3));
await m.close();
