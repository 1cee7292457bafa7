export { createMandate } from './mandate.js';
export type { CreateMandateOptions, Mandate } from './mandate.js';
export { describeStore, openStore } from './store.js';
export type { OpenStoreOptions } from './store.js';
export { PolicyCaseSchema, crossCheck, runPolicyCases } from './policy-cases.js';
export type { PolicyCase, PolicyCaseResult, PolicyTestReport, RunPolicyCasesInput } from './policy-cases.js';
export { auditWithMirror, checkpointMirrors, createEvidence, maxCheckpointGap } from './evidence.js';
export type { Evidence } from './evidence.js';
export { dashboardDir, dashboardNotice } from './dashboard.js';
