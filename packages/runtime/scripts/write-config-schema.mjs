// Regenerates packages/runtime/config.schema.json from the typed config schema (run after `npm run build`).
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../dist/config/index.js';

const file = new URL('../config.schema.json', import.meta.url);
writeFileSync(file, JSON.stringify(configJsonSchema(), null, 2) + '\n');
process.stdout.write(`wrote ${file.pathname}\n`);
