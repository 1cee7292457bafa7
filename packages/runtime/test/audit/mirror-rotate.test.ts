// F7: the checkpoint mirror file was opened once and kept open. Renamed by logrotate or deleted
// while the node ran, every later checkpoint went to the old (or unlinked) file: the path stayed
// missing, no failure was counted, nothing was logged. Each write now checks that the file at the
// path is the one it holds (device and inode) and opens the path again when it is not.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEphemeralKeys } from '../../src/audit/keys.js';
import { createFileMirror, readCheckpointFileDetailed } from '../../src/audit/mirror.js';
import { createJsonLogger } from '../../src/kernel/index.js';
import { createMemoryStore } from '../../src/storage/memory/index.js';
import { disposeAll, tempDir } from '../fixtures/mandate.js';
import { decisionEvent, ownLog } from './helpers.js';

afterAll(disposeAll);

/** An audit log with a file mirror; `step` appends a record and signs a checkpoint of it (its seq). */
function mirroredLog() {
  const file = join(tempDir('mandate-mirror-'), 'cp.jsonl');
  const warnings: { msg: string; found?: string }[] = [];
  const logger = createJsonLogger('warn', (line) => warnings.push(JSON.parse(line) as (typeof warnings)[0]));
  const { log } = ownLog(createMemoryStore(), createEphemeralKeys(), 1000, [
    createFileMirror(file, { logger }),
  ]);
  let i = 0;
  const step = async () => {
    await log.append(decisionEvent(++i));
    await log.checkpoint();
  };
  const seqs = async (path: string) => (await readCheckpointFileDetailed(path)).checkpoints.map((c) => c.seq);
  return { file, log, warnings, step, seqs };
}

describe('a checkpoint mirror file moved or deleted while the node runs', () => {
  it('renamed (logrotate): the next checkpoints go to a new file at the path, the rotated one keeps the old', async () => {
    const { file, log, warnings, step, seqs } = mirroredLog();
    await step();
    expect(await seqs(file)).toEqual([1]);
    renameSync(file, `${file}.1`);
    await step();
    await step();
    expect(await seqs(file), 'the path holds the checkpoints made after the rotation').toEqual([2, 3]);
    expect(await seqs(`${file}.1`)).toEqual([1]);
    expect(log.stats().mirrorFailures).toBe(0);
    expect(warnings).toMatchObject([
      { msg: expect.stringMatching(/moved, replaced or deleted/), found: 'no file' },
    ]);
    await log.close();
  });

  it('deleted: the path is created again; replaced by another file: that one is appended to, its torn line ended', async () => {
    const { file, log, warnings, step, seqs } = mirroredLog();
    await step();
    unlinkSync(file);
    await step();
    expect(await seqs(file)).toEqual([2]);
    // Another file put in its place (a restore, say), its last line cut by a crash.
    const restored = `${file}.restored`;
    writeFileSync(restored, readFileSync(file, 'utf8') + '{"seq":3,"ha');
    renameSync(restored, file);
    await step();
    const read = await readCheckpointFileDetailed(file);
    expect(read.torn).toEqual([2]);
    expect(read.checkpoints.map((c) => c.seq)).toEqual([2, 3]);
    expect(warnings.map((w) => w.found)).toEqual(['no file', 'another file']);
    await log.close();
  });
});
