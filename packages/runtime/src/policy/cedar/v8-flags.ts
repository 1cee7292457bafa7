import { setFlagsFromString } from 'node:v8';

// SECURITY: fail closed — on Node 20, hot cedar-wasm loops can abort the whole process in V8's
// deoptimizer (a crash would take every in-flight decision and un-flushed audit with it). Mandate's
// launchers pass `--no-turbo-inlining`; setting it here as well protects embedders who load the
// runtime into their own process. This module is imported before cedar-wasm (see `wasm.ts`), so the
// flag is set before any Cedar code is compiled by TurboFan.
setFlagsFromString('--no-turbo-inlining');
