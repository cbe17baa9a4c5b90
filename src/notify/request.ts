// Request bodies of the notify HTTP API (mana-notify compatible): zod schemas, ordered validation with the original error texts, RFC 5322 header-injection and address checks, OpenAPI 3.1 components.
import { z } from 'zod';
import { isAddrSpec, isHeaderFieldName, isReservedHeader, tryParseAddress } from './compose.ts';
import { checkTemplate, type TemplateError } from './templates/render.ts';

export const CHANNELS = ['email', 'push', 'webhook'] as const;
export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export const MAX_BATCH = 100;
export const MAX_RECIPIENTS = 100;
export const MAX_WEBHOOK_TIMEOUT_MS = 60_000;

/** What a handler answers for a body that is not the right JSON shape (the original's text). */
export const INVALID_BODY = 'invalid request body';

export type Channel = (typeof CHANNELS)[number];
export type Priority = (typeof PRIORITIES)[number];

/** A validation outcome. Both failures are 400; `malformed` always carries `invalid request body`. */
export type Validation<T> =
  | { ok: true; value: T }
  | { ok: false; reason: 'malformed'; message: typeof INVALID_BODY }
  | { ok: false; reason: 'invalid'; message: string };

export type Invalid = Extract<Validation<unknown>, { ok: false }>;

const malformed: Invalid = { ok: false, reason: 'malformed', message: INVALID_BODY };
const invalid = (message: string): Invalid => ({ ok: false, reason: 'invalid', message });

// --- field rules --------------------------------------------------------------------------

const CR_OR_LF = /[\r\n]/;
const noLineBreak = (field: string) => (value: string) => !CR_OR_LF.test(value) || `${field} must not contain CR or LF`;
const maxLength = (field: string, max: number) => ({ error: `${field} must be at most ${max} characters` });

/** A string that goes into a header line: no CR or LF (RFC 5322 §2.2). */
function headerText(field: string, max?: number) {
  const base = max === undefined ? z.string() : z.string().max(max, maxLength(field, max));
  return base.refine((v) => !CR_OR_LF.test(v), { error: `${field} must not contain CR or LF` });
}

/** One mailbox, `Name <addr>` or a bare address (RFC 5322 §3.4). */
function mailboxField(field: string) {
  return headerText(field, 500).refine((v) => tryParseAddress(v) !== undefined, {
    error: `${field} is not a valid email address`,
  });
}

/** One mailbox or a list of them; always a list after parsing. */
function mailboxListField(field: string) {
  return z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (typeof v === 'string' ? [v] : v))
    .pipe(z.array(mailboxField(field)).max(MAX_RECIPIENTS, { error: `${field} must have at most ${MAX_RECIPIENTS} entries` }));
}

/** Email header fields set by the caller: RFC 5322 §3.6.8 names, not ones notify writes, one-line values. */
const emailHeaders = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  for (const [name, value] of Object.entries(headers)) {
    const message = CR_OR_LF.test(name)
      ? 'emailOptions.headers names must not contain CR or LF'
      : !isHeaderFieldName(name)
        ? `emailOptions.headers: ${JSON.stringify(name)} is not a valid header field name`
        : isReservedHeader(name)
          ? `emailOptions.headers: ${name} cannot be set by the caller`
          : CR_OR_LF.test(value)
            ? `emailOptions.headers.${name} must not contain CR or LF`
            : undefined;
    if (message !== undefined) ctx.addIssue({ code: 'custom', message, path: [name] });
  }
});

// RFC 9110 §5.1 field-name = token.
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const webhookHeaders = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  for (const [name, value] of Object.entries(headers)) {
    const message = !HTTP_TOKEN.test(name)
      ? `webhookOptions.headers: ${JSON.stringify(name)} is not a valid header field name`
      : CR_OR_LF.test(value)
        ? `webhookOptions.headers.${name} must not contain CR or LF`
        : undefined;
    if (message !== undefined) ctx.addIssue({ code: 'custom', message, path: [name] });
  }
});

// --- contract schemas (types, OpenAPI) ----------------------------------------------------

export const emailOptionsSchema = z
  .object({
    from: mailboxField('emailOptions.from').optional().describe('Sender, `Name <address>` or an address; default SMTP_FROM'),
    replyTo: mailboxField('emailOptions.replyTo').optional(),
    cc: mailboxListField('emailOptions.cc').optional().describe('One address or a list'),
    bcc: mailboxListField('emailOptions.bcc').optional().describe('One address or a list; envelope only, never a header'),
    headers: emailHeaders.optional().describe('Extra header fields; From, To, Cc, Bcc, Subject, Date, Message-ID, MIME and Content-* fields are refused'),
  });

export const pushOptionsSchema = z
  .object({
    sound: z.string().optional(),
    badge: z.number().int({ error: 'pushOptions.badge must be an integer' }).min(0, { error: 'pushOptions.badge must not be negative' }).optional(),
    channelId: z.string().optional().describe('Android notification channel'),
  });

export const webhookOptionsSchema = z
  .object({
    method: z.enum(['POST', 'PUT'], { error: 'webhookOptions.method must be POST or PUT' }).optional().describe('Default POST'),
    headers: webhookHeaders.optional(),
    timeout: z
      .number()
      .int({ error: 'webhookOptions.timeout must be an integer number of milliseconds' })
      .min(1, { error: `webhookOptions.timeout must be between 1 and ${MAX_WEBHOOK_TIMEOUT_MS} ms` })
      .max(MAX_WEBHOOK_TIMEOUT_MS, { error: `webhookOptions.timeout must be between 1 and ${MAX_WEBHOOK_TIMEOUT_MS} ms` })
      .optional()
      .describe('Milliseconds; default 10000'),
  });

const sendShape = {
  channel: z.enum(CHANNELS, { error: 'channel must be email, push, or webhook' }),
  appId: z.string().min(1, { error: 'appId is required' }).max(50, maxLength('appId', 50)).describe('Calling application'),
  userId: z.string().max(255, maxLength('userId', 255)).optional().describe('User whose preferences apply'),
  recipient: headerText('recipient', 500).optional().describe('Email address, Expo push token or webhook URL'),
  recipients: z
    .array(headerText('recipients', 500))
    .max(MAX_RECIPIENTS, { error: `recipients must have at most ${MAX_RECIPIENTS} entries` })
    .optional()
    .describe('Further recipients of the same message'),
  template: z.string().max(100, maxLength('template', 100)).optional().describe('Template slug'),
  subject: headerText('subject', 500).optional(),
  body: z.string().optional().describe('HTML body for email, text for push'),
  text: z.string().optional().describe('Plain-text part for email; derived from the HTML when absent'),
  data: z.record(z.string(), z.unknown()).optional().describe('Template variables, push data or webhook JSON body'),
  priority: z.enum(PRIORITIES, { error: 'priority must be low, normal, high, or critical' }).default('normal'),
  externalId: z.string().max(255, maxLength('externalId', 255)).optional().describe('Idempotency key'),
  emailOptions: emailOptionsSchema.optional(),
  pushOptions: pushOptionsSchema.optional(),
  webhookOptions: webhookOptionsSchema.optional(),
};

type SendLike = { channel: Channel; recipient?: string | undefined; recipients?: string[] | undefined; userId?: string | undefined; template?: string | undefined; body?: string | undefined };

function sendRules(value: SendLike, ctx: z.RefinementCtx): void {
  if (value.channel === 'email') {
    // RFC 5321 §4.1.2: the recipient is used as RCPT TO, so it must be a bare address.
    if (value.recipient !== undefined && !isAddrSpec(value.recipient)) {
      ctx.addIssue({ code: 'custom', message: 'recipient is not a valid email address', path: ['recipient'] });
    }
    value.recipients?.forEach((r, i) => {
      if (!isAddrSpec(r)) ctx.addIssue({ code: 'custom', message: `recipients[${i}] is not a valid email address`, path: ['recipients', i] });
    });
  }
}

/** POST /api/v1/notifications/send */
export const sendRequestSchema = z.object(sendShape).superRefine(sendRules);

/** POST /api/v1/notifications/schedule */
export const scheduleRequestSchema = z
  .object({
    ...sendShape,
    scheduledFor: z.string().meta({ format: 'date-time', description: 'RFC 3339 timestamp in the future' }),
  })
  .superRefine(sendRules);

/** POST /api/v1/notifications/batch */
export const batchRequestSchema = z
  .object({ notifications: z.array(sendRequestSchema).min(1).max(MAX_BATCH) });

const SLUG = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const LOCALE = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;

const templateSubject = headerText('subject', 500).optional().describe('Subject template');
const templateText = z.string().optional().describe('Plain-text template; derived from the HTML when absent');
const templateVariablesField = z.unknown().optional().describe('Variable names the template uses (any JSON is stored)');

/** POST /api/v1/templates */
export const templateCreateSchema = z
  .object({
    slug: z.string().min(1).max(100, maxLength('slug', 100)).regex(SLUG, { error: 'slug may contain only letters, digits, ".", "_" and "-"' }),
    appId: z.string().max(50, maxLength('appId', 50)).optional(),
    channel: z.enum(CHANNELS, { error: 'channel must be email, push, or webhook' }),
    subject: templateSubject,
    bodyTemplate: z.string().min(1).describe('Body template: {{name}}, {{#if name}}…{{else}}…{{/if}}; Go {{.name}} / {{if .name}}…{{end}} also work'),
    text: templateText,
    locale: z.string().max(10, maxLength('locale', 10)).regex(LOCALE, { error: 'locale must be a language tag such as de-DE' }).default('de-DE'),
    variables: templateVariablesField,
  });

/** PUT /api/v1/templates/{slug}?locale= */
export const templateUpdateSchema = z
  .object({
    subject: templateSubject,
    bodyTemplate: z.string().optional(),
    text: templateText,
    isActive: z.boolean().optional(),
    variables: templateVariablesField,
  });

/** POST /api/v1/templates/preview */
export const templatePreviewSchema = z
  .object({
    subject: z.string().optional(),
    bodyTemplate: z.string().default(''),
    text: templateText,
    data: z.record(z.string(), z.unknown()).optional(),
  });

/** POST /api/v1/templates/{slug}/preview */
export const templateSlugPreviewSchema = z
  .object({ data: z.record(z.string(), z.unknown()).optional() });

// NestJS's rule: H:MM or HH:MM, 00:00-23:59.
const HH_MM = /^([01]?[0-9]|2[0-3]):[0-5][0-9]$/;
function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** PUT /api/v1/preferences */
export const preferencesUpdateSchema = z
  .object({
    emailEnabled: z.boolean().optional(),
    pushEnabled: z.boolean().optional(),
    quietHoursEnabled: z.boolean().optional(),
    quietHoursStart: z.string().regex(HH_MM, { error: 'quietHoursStart must be HH:MM (00:00-23:59)' }).optional(),
    quietHoursEnd: z.string().regex(HH_MM, { error: 'quietHoursEnd must be HH:MM (00:00-23:59)' }).optional(),
    timezone: z
      .string()
      .max(50, maxLength('timezone', 50))
      .refine(isTimeZone, { error: 'timezone must be an IANA time zone such as Europe/Berlin' })
      .optional(),
    categoryPreferences: z.record(z.string(), z.unknown()).optional().describe('e.g. {"calendar":{"reminders":true}}'),
  });

/** POST /api/v1/devices/register */
export const deviceRegisterSchema = z
  .object({
    pushToken: z.string().min(1, { error: 'pushToken is required' }),
    tokenType: z.string().max(20, maxLength('tokenType', 20)).default('expo'),
    platform: z.string().max(20, maxLength('platform', 20)).optional(),
    deviceName: z.string().max(100, maxLength('deviceName', 100)).optional(),
    appId: z.string().max(50, maxLength('appId', 50)).optional(),
  });

export type SendRequest = z.output<typeof sendRequestSchema>;
export type SendRequestInput = z.input<typeof sendRequestSchema>;
export type EmailOptions = z.output<typeof emailOptionsSchema>;
export type PushOptions = z.output<typeof pushOptionsSchema>;
export type WebhookOptions = z.output<typeof webhookOptionsSchema>;
export type ScheduleRequest = SendRequest & { scheduledFor: Date };
export type BatchRequest = { notifications: Validation<SendRequest>[] };
export type TemplateCreateRequest = z.output<typeof templateCreateSchema>;
export type TemplateUpdateRequest = z.output<typeof templateUpdateSchema>;
export type TemplatePreviewRequest = z.output<typeof templatePreviewSchema>;
export type TemplateSlugPreviewRequest = z.output<typeof templateSlugPreviewSchema>;
export type PreferencesUpdateRequest = z.output<typeof preferencesUpdateSchema>;
export type DeviceRegisterRequest = z.output<typeof deviceRegisterSchema>;

// --- wire schemas: only the JSON types, as Go's decoder checked them ------------------------

const str = z.string().optional();
const strOrList = z.union([z.string(), z.array(z.string())]).optional();
const stringMap = z.record(z.string(), z.string()).optional();
const object = z.record(z.string(), z.unknown()).optional();
const int = z.number().int().optional();

const wireSend = z.object({
  channel: str, appId: str, userId: str, recipient: str, recipients: z.array(z.string()).optional(),
  template: str, subject: str, body: str, text: str, data: object, priority: str, externalId: str,
  emailOptions: z.object({ from: str, replyTo: str, cc: strOrList, bcc: strOrList, headers: stringMap }).optional(),
  pushOptions: z.object({ sound: str, badge: int, channelId: str }).optional(),
  webhookOptions: z.object({ method: str, headers: stringMap, timeout: int }).optional(),
});
type WireSend = z.output<typeof wireSend>;
const wireSchedule = wireSend.extend({ scheduledFor: str });

const wireTemplate = z.object({
  slug: str, appId: str, channel: str, subject: str, bodyTemplate: str, text: str, locale: str,
  isActive: z.boolean().optional(), variables: z.unknown().optional(), data: object,
});

const wirePreferences = z.object({
  emailEnabled: z.boolean().optional(), pushEnabled: z.boolean().optional(), quietHoursEnabled: z.boolean().optional(),
  quietHoursStart: str, quietHoursEnd: str, timezone: str, categoryPreferences: object,
});

const wireDevice = z.object({ pushToken: str, tokenType: str, platform: str, deviceName: str, appId: str });

// --- validation ---------------------------------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Go's decoder leaves a field at its zero value for `null`, and the original treated "" as
 * absent everywhere; both become undefined here (one level, plus the named option objects).
 */
function compact(value: unknown, nested: readonly string[] = []): unknown {
  if (value === null) return {};
  if (!isPlainObject(value)) return value;
  const result: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (field === null || field === '') continue;
    result[key] = nested.includes(key) ? compact(field) : field;
  }
  return result;
}

const SEND_OPTIONS = ['emailOptions', 'pushOptions', 'webhookOptions'] as const;

/** Every rule above sets a message naming its field; this names the field for any rule that does not. */
const PARSE_OPTIONS = {
  error: (issue: { path?: PropertyKey[] | undefined; code?: string | undefined }) =>
    `${(issue.path ?? []).map(String).join('.') || 'body'} is invalid (${issue.code ?? 'unknown'})`,
};

/** Maps the first zod issue to a result: a type problem is malformed, the rest carry their message. */
function fromIssues(issues: readonly z.core.$ZodIssue[]): Invalid {
  const issue = issues[0];
  if (issue === undefined || issue.code === 'invalid_type') return malformed;
  return invalid(issue.message);
}

/** The original's checks, in its order (handler/notifications.go validateSendRequest). */
function originalSendChecks(req: WireSend): Invalid | undefined {
  if (req.channel === undefined) return invalid('channel is required');
  if (!(CHANNELS as readonly string[]).includes(req.channel)) return invalid('channel must be email, push, or webhook');
  if (req.appId === undefined) return invalid('appId is required');
  if (req.recipient === undefined && (req.recipients?.length ?? 0) === 0 && req.userId === undefined) {
    return invalid('recipient, recipients, or userId is required');
  }
  if (req.template === undefined && req.body === undefined) return invalid('template or body is required');
  return undefined;
}

function validateSendFields(wire: WireSend): Validation<SendRequest> {
  const failed = originalSendChecks(wire);
  if (failed !== undefined) return failed;
  const parsed = sendRequestSchema.safeParse(wire, PARSE_OPTIONS);
  return parsed.success ? { ok: true, value: parsed.data } : fromIssues(parsed.error.issues);
}

/** POST /notifications/send: `invalid request body`, then the original messages in order, then the new rules. */
export function validateSendRequest(body: unknown): Validation<SendRequest> {
  const wire = wireSend.safeParse(compact(body, SEND_OPTIONS));
  if (!wire.success) return malformed;
  return validateSendFields(wire.data);
}

// RFC 3339 §5.6 date-time, as Go's time.Parse(time.RFC3339) accepts it (upper-case T and Z).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 timestamp strictly (calendar-valid date, hour < 24, second < 60, offset < 24h). */
export function parseRfc3339(value: string): Date | undefined {
  const m = RFC3339.exec(value);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return undefined;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return undefined;
  const time = Date.parse(value.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(time) ? undefined : new Date(time);
}

/** POST /notifications/schedule: the timestamp checks first (as the original), then send validation. */
export function validateScheduleRequest(body: unknown, options: { now?: Date } = {}): Validation<ScheduleRequest> {
  const wire = wireSchedule.safeParse(compact(body, SEND_OPTIONS));
  if (!wire.success) return malformed;
  const scheduledFor = wire.data.scheduledFor === undefined ? undefined : parseRfc3339(wire.data.scheduledFor);
  if (scheduledFor === undefined) return invalid('scheduledFor must be a valid RFC3339 timestamp');
  if (scheduledFor.getTime() < (options.now ?? new Date()).getTime()) return invalid('scheduledFor must be in the future');
  const send = validateSendFields(wire.data);
  return send.ok ? { ok: true, value: { ...send.value, scheduledFor } } : send;
}

/**
 * POST /notifications/batch: the whole body must have the right types (else `invalid request
 * body`), 1 to 100 items; then each item is validated on its own, as the original did.
 */
export function validateBatchRequest(body: unknown): Validation<BatchRequest> {
  const top = compact(body);
  if (!isPlainObject(top)) return malformed;
  const items = top['notifications'];
  if (items !== undefined && !Array.isArray(items)) return malformed;
  const wire = z.array(wireSend).safeParse((items ?? []).map((item) => compact(item, SEND_OPTIONS)));
  if (!wire.success) return malformed;
  if (wire.data.length === 0) return invalid('notifications array is required');
  if (wire.data.length > MAX_BATCH) return invalid(`maximum ${MAX_BATCH} notifications per batch`);
  return { ok: true, value: { notifications: wire.data.map(validateSendFields) } };
}

function templateSyntax(source: { subject?: string | undefined; bodyTemplate?: string | undefined; text?: string | undefined }): Invalid | undefined {
  try {
    checkTemplate({ subject: source.subject, bodyTemplate: source.bodyTemplate ?? '', text: source.text });
    return undefined;
  } catch (err) {
    // The message reads like the original preview's: `invalid body template: line 1, column 4: …`.
    if ((err as TemplateError).code === 'template.invalid') return invalid((err as Error).message);
    throw err;
  }
}

/** POST /templates */
export function validateTemplateCreate(body: unknown): Validation<TemplateCreateRequest> {
  const wire = wireTemplate.safeParse(compact(body));
  if (!wire.success) return malformed;
  const { slug, channel, bodyTemplate } = wire.data;
  if (slug === undefined || channel === undefined || bodyTemplate === undefined) {
    return invalid('slug, channel, and bodyTemplate are required');
  }
  const parsed = templateCreateSchema.safeParse(wire.data, PARSE_OPTIONS);
  if (!parsed.success) return fromIssues(parsed.error.issues);
  return templateSyntax(parsed.data) ?? { ok: true, value: parsed.data };
}

/** PUT /templates/{slug} */
export function validateTemplateUpdate(body: unknown): Validation<TemplateUpdateRequest> {
  const wire = wireTemplate.safeParse(compact(body));
  if (!wire.success) return malformed;
  const parsed = templateUpdateSchema.safeParse(wire.data, PARSE_OPTIONS);
  if (!parsed.success) return fromIssues(parsed.error.issues);
  return templateSyntax(parsed.data) ?? { ok: true, value: parsed.data };
}

/** POST /templates/preview; syntax errors read `invalid subject template: …` / `invalid body template: …`. */
export function validateTemplatePreview(body: unknown): Validation<TemplatePreviewRequest> {
  const wire = wireTemplate.safeParse(compact(body));
  if (!wire.success) return malformed;
  const parsed = templatePreviewSchema.safeParse(wire.data, PARSE_OPTIONS);
  if (!parsed.success) return fromIssues(parsed.error.issues);
  return templateSyntax(parsed.data) ?? { ok: true, value: parsed.data };
}

/** POST /templates/{slug}/preview */
export function validateTemplateSlugPreview(body: unknown): Validation<TemplateSlugPreviewRequest> {
  const parsed = templateSlugPreviewSchema.safeParse(compact(body));
  return parsed.success ? { ok: true, value: parsed.data } : malformed;
}

/** PUT /preferences */
export function validatePreferencesUpdate(body: unknown): Validation<PreferencesUpdateRequest> {
  const wire = wirePreferences.safeParse(compact(body));
  if (!wire.success) return malformed;
  const parsed = preferencesUpdateSchema.safeParse(wire.data, PARSE_OPTIONS);
  return parsed.success ? { ok: true, value: parsed.data } : fromIssues(parsed.error.issues);
}

/** POST /devices/register */
export function validateDeviceRegister(body: unknown): Validation<DeviceRegisterRequest> {
  const wire = wireDevice.safeParse(compact(body));
  if (!wire.success) return malformed;
  if (wire.data.pushToken === undefined) return invalid('pushToken is required');
  const parsed = deviceRegisterSchema.safeParse(wire.data, PARSE_OPTIONS);
  return parsed.success ? { ok: true, value: parsed.data } : fromIssues(parsed.error.issues);
}

// --- OpenAPI ------------------------------------------------------------------------------

/** The error envelope every handler error uses (packages/shared-go/httputil). */
export const errorEnvelopeSchema = z
  .object({
    success: z.literal(false),
    error: z.object({
      statusCode: z.number().int(),
      message: z.string(),
      timestamp: z.string().meta({ format: 'date-time' }),
    }),
  });

const REQUEST_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  SendRequest: sendRequestSchema,
  ScheduleRequest: scheduleRequestSchema,
  BatchRequest: batchRequestSchema,
  EmailOptions: emailOptionsSchema,
  PushOptions: pushOptionsSchema,
  WebhookOptions: webhookOptionsSchema,
  TemplateCreateRequest: templateCreateSchema,
  TemplateUpdateRequest: templateUpdateSchema,
  TemplatePreviewRequest: templatePreviewSchema,
  TemplateSlugPreviewRequest: templateSlugPreviewSchema,
  PreferencesUpdateRequest: preferencesUpdateSchema,
  DeviceRegisterRequest: deviceRegisterSchema,
  ErrorEnvelope: errorEnvelopeSchema,
};

export type OpenApiComponents = { schemas: Record<string, Record<string, unknown>> };

/**
 * An OpenAPI 3.1 `components` object (JSON Schema 2020-12) for the request bodies above, plus
 * any `extra` schemas (e.g. responses) keyed by component name; references between them use
 * `#/components/schemas/<name>`. Input shapes: defaults shown, optional fields not required.
 */
export function openApiComponents(extra: Readonly<Record<string, z.ZodType>> = {}): OpenApiComponents {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries({ ...REQUEST_SCHEMAS, ...extra })) registry.add(schema, { id });
  const converted = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  const schemas: Record<string, Record<string, unknown>> = {};
  for (const [id, schema] of Object.entries(converted.schemas)) {
    const { $schema: _schema, $id: _id, id: _metaId, ...rest } = schema as Record<string, unknown>;
    schemas[id] = rest;
  }
  return { schemas };
}
