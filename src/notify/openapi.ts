// The OpenAPI 3.1 document of the notify API, built from the zod schemas that validate its requests (request.ts) plus response schemas here.
import { z } from 'zod';
import { MAIL_EVENT_TYPES, mailEventSchema } from './mail-events.ts';
import { openApiComponents } from './request.ts';

/** The API version /health and the document report (the original's). */
export const NOTIFY_VERSION = '1.0.0';

const STATUSES = ['pending', 'processing', 'sent', 'delivered', 'bounced', 'failed', 'cancelled'] as const;

const accepted = z.object({ notification: z.object({ id: z.string().meta({ format: 'uuid' }), status: z.literal('pending'), scheduledFor: z.string().optional() }) });
const deduplicated = z.object({ notification: z.object({ id: z.string(), status: z.literal('existing') }), deduplicated: z.literal(true) });
const suppressed = z.object({ notification: z.object({ status: z.literal('cancelled'), reason: z.string() }) });
const deliveryLog = z.object({
  attempt: z.number().int(),
  channel: z.string(),
  success: z.boolean(),
  event: z.enum(MAIL_EVENT_TYPES).optional().describe('Set on entries that come from the mail server'),
  provider: z.string().optional().describe('primary, fallback, or mail (an event)'),
  statusCode: z.number().int().optional(),
  providerId: z.string().optional(),
  errorMessage: z.string().optional(),
  durationMs: z.number().int().optional(),
  createdAt: z.string(),
});
const notification = z.object({
  id: z.string(),
  userId: z.string().optional(),
  appId: z.string(),
  channel: z.enum(['email', 'push', 'webhook']),
  templateId: z.string().optional(),
  subject: z.string().optional(),
  body: z.string().optional(),
  status: z.enum(STATUSES),
  priority: z.enum(['low', 'normal', 'high', 'critical']),
  scheduledFor: z.string().optional(),
  recipient: z.string().optional(),
  recipients: z.array(z.string()).optional(),
  externalId: z.string().optional(),
  attempts: z.number().int(),
  deliveredAt: z.string().optional(),
  errorMessage: z.string().optional(),
  messageId: z.string().optional().describe('RFC 5322 Message-ID of the email'),
  mailQueueId: z.string().optional(),
  nextAttemptAt: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  deliveryLogs: z.array(deliveryLog),
});
const batchResult = z.object({
  results: z.array(z.object({ id: z.string().optional(), status: z.enum(['pending', 'existing', 'failed']), error: z.string().optional(), deduplicated: z.boolean().optional() })),
  succeeded: z.number().int(),
  failed: z.number().int(),
});
const template = z.object({
  id: z.string(), slug: z.string(), appId: z.string().optional(), channel: z.string(), subject: z.string().optional(),
  bodyTemplate: z.string(), text: z.string().optional(), locale: z.string(), isActive: z.boolean(), isSystem: z.boolean(),
  variables: z.unknown().optional(), createdAt: z.string(), updatedAt: z.string(),
});
const preview = z.object({ subject: z.string(), body: z.string(), text: z.string(), locale: z.string().optional() });
const health = z.object({
  status: z.enum(['healthy', 'unhealthy']), version: z.string(), service: z.literal('mana-notify'), uptime: z.number(), timestamp: z.string(),
  services: z.object({ database: z.boolean(), smtp: z.record(z.string(), z.unknown()).optional(), worker: z.record(z.string(), z.unknown()).optional() }),
});
const unauthorized = z.object({ error: z.string() });

const RESPONSES = {
  Accepted: accepted,
  Deduplicated: deduplicated,
  Suppressed: suppressed,
  Notification: z.object({ notification }),
  DeliveryLog: deliveryLog,
  BatchResult: batchResult,
  Template: template,
  TemplateResponse: z.object({ template }),
  TemplateList: z.object({ templates: z.array(template).nullable() }),
  Preview: preview,
  Health: health,
  Unauthorized: unauthorized,
  MailEvent: mailEventSchema,
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });
const error = (description: string) => json('ErrorEnvelope', description);
const body = (name: string) => ({ required: true, content: { 'application/json': { schema: ref(name) } } });
const serviceKey = [{ serviceKey: [] }];
const bearer = [{ bearer: [] }];
const slug = { name: 'slug', in: 'path', required: true, schema: { type: 'string' } };
const locale = { name: 'locale', in: 'query', required: false, schema: { type: 'string', default: 'de-DE' } };
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const common = { 400: error('Invalid request body or a validation error'), 401: json('Unauthorized', 'Missing or wrong X-Service-Key') };

let cached: Record<string, unknown> | undefined;

/** The document served at /openapi.json. */
export function buildOpenApi(): Record<string, unknown> {
  if (cached) return cached;
  const components = openApiComponents(RESPONSES);
  cached = {
    openapi: '3.1.0',
    info: { title: 'mana-notify', version: NOTIFY_VERSION, description: 'Notification gateway: email (SMTP), webhook and push, with a durable queue, templates and delivery status.' },
    components: {
      ...components,
      securitySchemes: {
        serviceKey: { type: 'apiKey', in: 'header', name: 'X-Service-Key' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        mailSignature: { type: 'apiKey', in: 'header', name: 'X-Mana-Signature', description: 'sha256=<hex HMAC-SHA256 of the raw body>' },
      },
    },
    paths: {
      '/health': { get: { summary: 'Service health', responses: { 200: json('Health', 'Always 200; status says whether the database answers') } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text/plain; version=0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/api/v1/notifications/send': {
        post: {
          summary: 'Queue a notification', security: serviceKey, requestBody: body('SendRequest'),
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
          responses: { 202: json('Accepted', 'Committed to the queue'), 200: { description: 'Duplicate externalId / Idempotency-Key, or dropped by user preferences', content: { 'application/json': { schema: { oneOf: [ref('Deduplicated'), ref('Suppressed')] } } } }, ...common, 500: error('Database error') },
        },
      },
      '/api/v1/notifications/schedule': { post: { summary: 'Queue a notification for later', security: serviceKey, requestBody: body('ScheduleRequest'), responses: { 202: json('Accepted', 'Committed; sent at scheduledFor'), 200: json('Deduplicated', 'Duplicate externalId'), ...common } } },
      '/api/v1/notifications/batch': { post: { summary: 'Queue up to 100 notifications', security: serviceKey, requestBody: body('BatchRequest'), responses: { 202: json('BatchResult', 'Per-item results'), ...common } } },
      '/api/v1/notifications/{id}': {
        get: { summary: 'Status and delivery log', security: serviceKey, parameters: [id], responses: { 200: json('Notification', 'The notification'), 401: common[401], 404: error('notification not found') } },
        delete: { summary: 'Cancel a pending notification', security: serviceKey, parameters: [id], responses: { 200: { description: '{"cancelled":true}' }, 401: common[401], 404: error('notification not found or already processed') } },
      },
      '/api/v1/templates': {
        get: { summary: 'List templates', security: serviceKey, responses: { 200: json('TemplateList', 'All templates'), 401: common[401] } },
        post: { summary: 'Create a template', security: serviceKey, requestBody: body('TemplateCreateRequest'), responses: { 201: { description: '{"id"}' }, ...common, 409: error('template already exists for this slug+locale') } },
      },
      '/api/v1/templates/preview': { post: { summary: 'Render an ad-hoc template', security: serviceKey, requestBody: body('TemplatePreviewRequest'), responses: { 200: json('Preview', 'Rendered'), ...common } } },
      '/api/v1/templates/{slug}': {
        get: { summary: 'Get a template', security: serviceKey, parameters: [slug, locale], responses: { 200: json('TemplateResponse', 'The template'), 401: common[401], 404: error('template not found') } },
        put: { summary: 'Update a template', security: serviceKey, parameters: [slug, locale], requestBody: body('TemplateUpdateRequest'), responses: { 200: { description: '{"updated":true}' }, ...common, 404: error('template not found or is a system template') } },
        delete: { summary: 'Delete a template (all locales)', security: serviceKey, parameters: [slug], responses: { 200: { description: '{"deleted":true}' }, 401: common[401], 404: error('template not found or is a system template') } },
      },
      '/api/v1/templates/{slug}/preview': { post: { summary: 'Render a stored template', security: serviceKey, parameters: [slug, { ...locale, schema: { type: 'string' } }], requestBody: body('TemplateSlugPreviewRequest'), responses: { 200: json('Preview', 'Rendered'), ...common, 404: error('template not found') } } },
      '/api/v1/preferences': {
        get: { summary: 'The caller\'s preferences', security: bearer, responses: { 200: { description: '{"preferences":{...}}' }, 401: json('Unauthorized', 'Missing or invalid token') } },
        put: { summary: 'Update the caller\'s preferences', security: bearer, requestBody: body('PreferencesUpdateRequest'), responses: { 200: { description: '{"updated":true}' }, 400: common[400], 401: json('Unauthorized', 'Missing or invalid token') } },
      },
      '/api/v1/devices/register': { post: { summary: 'Register a push device', security: bearer, requestBody: body('DeviceRegisterRequest'), responses: { 201: { description: '{"device":{"id"}}' }, 400: common[400], 401: json('Unauthorized', 'Missing or invalid token') } } },
      '/api/v1/devices': { get: { summary: 'The caller\'s active devices', security: bearer, responses: { 200: { description: '{"devices":[...]}' }, 401: json('Unauthorized', 'Missing or invalid token') } } },
      '/api/v1/devices/{id}': { delete: { summary: 'Deactivate a device', security: bearer, parameters: [{ ...id, schema: { type: 'string' } }], responses: { 200: { description: '{"deleted":true}' }, 401: json('Unauthorized', 'Missing or invalid token'), 404: error('device not found') } } },
      '/api/v1/internal/mail-events': { post: { summary: 'Delivery events from the mail server', security: [{ mailSignature: [] }], requestBody: body('MailEvent'), responses: { 200: { description: '{"ok":true,"matched","duplicate","status"?}' }, 400: common[400], 401: json('Unauthorized', 'Missing or wrong signature') } } },
    },
  };
  return cached;
}
