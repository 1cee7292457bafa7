import { setFlagsFromString } from 'node:v8';

// SECURITY: fail closed — on Node 20, hot cedar-wasm loops can abort the whole process in V8's
// deoptimizer (a crash would take every in-flight decision and un-flushed audit with it). Mandate's
// launchers pass `--no-turbo-inlining`; setting it here as well protects embedders who load the
// runtime into their own process. This module is imported before cedar-wasm (see `wasm.ts`), so the
// flag is set before any Cedar code is compiled by TurboFan.
setFlagsFromString('--no-turbo-inlining');

// SECURITY: regular expressions that come from outside — an MCP upstream's tool `inputSchema`
// `pattern` (compiled by Ajv, checked on every call before the decision) — could backtrack
// exponentially: `^(a+)+$` against 30 characters held the event loop for seconds, every agent's
// calls with it (a probe). With this flag V8 moves a match that exceeds its backtrack budget to its
// linear-time engine, which gives the same answer for every pattern it supports (those without
// backreferences and lookarounds). Set with the other flag, before any such pattern is compiled.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
