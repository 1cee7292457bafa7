export { approvalWebhookPayload, createWebhookNotifier } from './webhook.js';
export type { WebhookNotifier, WebhookOptions } from './webhook.js';
