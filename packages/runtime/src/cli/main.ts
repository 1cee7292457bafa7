import { buildProgram, exitCodeFor } from './program.js';

// The process entry: parse, run, map errors to documented exit codes.
const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (err) {
  const { code, message } = exitCodeFor(err);
  if (message) process.stderr.write(`mandate: ${message}\n`);
  process.exitCode = code;
}
