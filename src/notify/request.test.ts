// Tests for request.ts: original mana-notify validation messages and order, JSON type errors, header-injection and address rules, OpenAPI output.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  INVALID_BODY,
  openApiComponents,
  parseRfc3339,
  validateBatchRequest,
  validateDeviceRegister,
  validatePreferencesUpdate,
  validateScheduleRequest,
  validateSendRequest,
  validateTemplateCreate,
  validateTemplatePreview,
  validateTemplateSlugPreview,
  validateTemplateUpdate,
  type Validation,
} from './request.ts';

const email = { channel: 'email', appId: 'mana-auth', recipient: 'ada@example.com', subject: 'Hi', body: '<p>Hi</p>' };

function message(result: Validation<unknown>): string | undefined {
  return result.ok ? undefined : result.message;
}

function assertInvalid(result: Validation<unknown>, expected: string): void {
  assert.equal(result.ok, false, `expected "${expected}"`);
  if (!result.ok) {
    assert.equal(result.reason, 'invalid');
    assert.equal(result.message, expected);
  }
}

function assertMalformed(result: Validation<unknown>): void {
  assert.deepEqual(result, { ok: false, reason: 'malformed', message: INVALID_BODY });
}

function valueOf<T>(result: Validation<T>): T {
  if (!result.ok) assert.fail(`expected valid, got ${result.message}`);
  return result.value;
}

describe('validateSendRequest: the original messages, in the original order', () => {
  const steps: [string, Record<string, unknown>, string][] = [
    ['no channel', {}, 'channel is required'],
    ['empty channel', { channel: '', appId: '' }, 'channel is required'],
    ['unknown channel before a missing appId', { channel: 'sms' }, 'channel must be email, push, or webhook'],
    ['the old matrix channel', { channel: 'matrix', appId: 'a' }, 'channel must be email, push, or webhook'],
    ['no appId', { channel: 'email', recipient: 'a@b.c', body: 'x' }, 'appId is required'],
    ['no recipient, recipients or userId', { channel: 'email', appId: 'a', body: 'x' }, 'recipient, recipients, or userId is required'],
    ['an empty recipients list', { channel: 'email', appId: 'a', recipients: [], body: 'x' }, 'recipient, recipients, or userId is required'],
    ['neither template nor body', { channel: 'email', appId: 'a', recipient: 'a@b.c' }, 'template or body is required'],
    ['original checks before new ones', { channel: 'email', appId: 'x'.repeat(60), recipient: 'a@b.c', subject: 'x\r\ny' }, 'template or body is required'],
  ];
  for (const [name, body, expected] of steps) {
    it(`${name} -> "${expected}"`, () => assertInvalid(validateSendRequest(body), expected));
  }

  it('accepts the body mana-auth sends (src/email/send.ts)', () => {
    const value = valueOf(validateSendRequest({ channel: 'email', appId: 'mana-auth', recipient: 'ada@example.com', subject: 'E-Mail bestätigen — Mana', body: '<p>Hallo ,</p>' }));
    assert.equal(value.priority, 'normal');
    assert.equal(value.recipient, 'ada@example.com');
  });

  it("accepts mana-credits' request with a userId and no recipient", () => {
    valueOf(validateSendRequest({ channel: 'email', appId: 'sync', userId: 'u1', subject: 'Cloud Sync pausiert', body: '<p>x</p>', data: { type: 'sync-paused', resumeUrl: 'https://x.y' } }));
  });

  it("accepts the notify-client SDK's sendEmail shape (template, data, emailOptions, priority, externalId)", () => {
    const value = valueOf(validateSendRequest({
      channel: 'email', appId: 'memoro', recipient: 'ada@example.com', template: 'space-invite', data: { n: 1 },
      emailOptions: { from: 'Memoro <noreply@memoro.app>', replyTo: 'team@memoro.app' }, priority: 'high', externalId: 'inv-1',
    }));
    assert.equal(value.priority, 'high');
    assert.equal(value.emailOptions?.from, 'Memoro <noreply@memoro.app>');
  });

  it('accepts push and webhook notifications with their options', () => {
    valueOf(validateSendRequest({ channel: 'push', appId: 'a', recipient: 'ExponentPushToken[abc]', subject: 'T', body: 'B', pushOptions: { sound: 'default', badge: 2, channelId: 'c' } }));
    const hook = valueOf(validateSendRequest({ channel: 'webhook', appId: 'a', recipient: 'https://hook.example/x', template: 't', data: { a: [1, null] }, webhookOptions: { method: 'PUT', headers: { 'X-Sig': 'abc' }, timeout: 5000 } }));
    assert.deepEqual(hook.data, { a: [1, null] }, 'data is passed through untouched, nulls included');
  });

  it('ignores unknown fields and leaves them out of the value', () => {
    const value = valueOf(validateSendRequest({ ...email, matrixOptions: { msgtype: 'text' }, surprise: 1 }));
    assert.equal('surprise' in value, false);
    assert.equal('matrixOptions' in value, false);
  });

  it('treats null and "" as absent, as the original did', () => {
    const value = valueOf(validateSendRequest({ ...email, priority: '', externalId: null, userId: '', emailOptions: null, template: null }));
    assert.equal(value.priority, 'normal');
    assert.equal(value.externalId, undefined);
    assertInvalid(validateSendRequest({ channel: 'email', appId: 'a', recipient: '', userId: null, body: 'x' }), 'recipient, recipients, or userId is required');
  });

  it('takes a JSON null body as an empty request (Go decodes null into zero values)', () => {
    assertInvalid(validateSendRequest(null), 'channel is required');
  });
});

describe('validateSendRequest: wrong JSON types are "invalid request body"', () => {
  const bodies: [string, unknown][] = [
    ['an array body', [email]],
    ['a string body', 'channel=email'],
    ['a number body', 42],
    ['channel as a number', { ...email, channel: 1 }],
    ['appId as an object', { ...email, appId: { id: 1 } }],
    ['recipients as a string', { ...email, recipients: 'a@b.c' }],
    ['recipients with a number', { ...email, recipients: ['a@b.c', 1] }],
    ['data as an array', { ...email, data: [1, 2] }],
    ['data as a string', { ...email, data: 'x' }],
    ['priority as a number', { ...email, priority: 1 }],
    ['emailOptions as a string', { ...email, emailOptions: 'x' }],
    ['emailOptions.cc as a number', { ...email, emailOptions: { cc: 5 } }],
    ['emailOptions.headers with a number value', { ...email, emailOptions: { headers: { 'X-A': 1 } } }],
    ['pushOptions.badge as a fraction', { ...email, pushOptions: { badge: 1.5 } }],
    ['webhookOptions.timeout as a string', { ...email, webhookOptions: { timeout: '1000' } }],
  ];
  for (const [name, body] of bodies) {
    it(name, () => assertMalformed(validateSendRequest(body)));
  }

  it('checks types before the required fields, as decoding came first', () => {
    assertMalformed(validateSendRequest({ appId: 1 }));
  });
});

describe('validateSendRequest: limits of the original columns', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['appId VARCHAR(50)', { appId: 'a'.repeat(51) }, 'appId must be at most 50 characters'],
    ['recipient VARCHAR(500)', { channel: 'webhook', recipient: 'https://x.y/' + 'a'.repeat(500) }, 'recipient must be at most 500 characters'],
    ['subject VARCHAR(500)', { subject: 's'.repeat(501) }, 'subject must be at most 500 characters'],
    ['externalId VARCHAR(255)', { externalId: 'e'.repeat(256) }, 'externalId must be at most 255 characters'],
    ['template VARCHAR(100)', { template: 't'.repeat(101) }, 'template must be at most 100 characters'],
    ['priority enum', { priority: 'urgent' }, 'priority must be low, normal, high, or critical'],
    ['webhook method', { webhookOptions: { method: 'GET' } }, 'webhookOptions.method must be POST or PUT'],
    ['webhook timeout', { webhookOptions: { timeout: 0 } }, 'webhookOptions.timeout must be between 1 and 60000 ms'],
    ['webhook timeout upper bound', { webhookOptions: { timeout: 600_000 } }, 'webhookOptions.timeout must be between 1 and 60000 ms'],
    ['push badge', { pushOptions: { badge: -1 } }, 'pushOptions.badge must not be negative'],
  ];
  for (const [name, patch, expected] of cases) {
    it(`${name} -> "${expected}"`, () => assertInvalid(validateSendRequest({ ...email, ...patch }), expected));
  }

  it('accepts values at the limits', () => {
    valueOf(validateSendRequest({ ...email, appId: 'a'.repeat(50), subject: 's'.repeat(500), externalId: 'e'.repeat(255) }));
  });
});

describe('validateSendRequest: header injection (RFC 5322 §2.2)', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['subject CRLF', { subject: 'Hi\r\nBcc: victim@example.com' }, 'subject must not contain CR or LF'],
    ['subject bare LF', { subject: 'Hi\nthere' }, 'subject must not contain CR or LF'],
    ['subject bare CR', { subject: 'Hi\rthere' }, 'subject must not contain CR or LF'],
    ['recipient', { recipient: 'a@b.c\r\nBcc: victim@example.com' }, 'recipient must not contain CR or LF'],
    ['recipients', { recipients: ['a@b.c', 'd@e.f\nX: y'] }, 'recipients must not contain CR or LF'],
    ['emailOptions.from', { emailOptions: { from: 'Mana <a@b.c>\r\nBcc: v@x.y' } }, 'emailOptions.from must not contain CR or LF'],
    ['emailOptions.replyTo', { emailOptions: { replyTo: 'a@b.c\nX: y' } }, 'emailOptions.replyTo must not contain CR or LF'],
    ['emailOptions.cc string', { emailOptions: { cc: 'a@b.c\r\nX: y' } }, 'emailOptions.cc must not contain CR or LF'],
    ['emailOptions.bcc list', { emailOptions: { bcc: ['a@b.c', 'd@e.f\rX: y'] } }, 'emailOptions.bcc must not contain CR or LF'],
    ['a header value', { emailOptions: { headers: { 'X-Tag': 'a\r\nBcc: v@x.y' } } }, 'emailOptions.headers.X-Tag must not contain CR or LF'],
    ['a header name', { emailOptions: { headers: { 'X-Tag\r\nBcc': 'v@x.y' } } }, 'emailOptions.headers names must not contain CR or LF'],
    ['a header name with a colon', { emailOptions: { headers: { 'X-A: b': 'c' } } }, 'emailOptions.headers: "X-A: b" is not a valid header field name'],
    ['a header name with a space', { emailOptions: { headers: { 'X A': 'c' } } }, 'emailOptions.headers: "X A" is not a valid header field name'],
    ['a webhook header value', { webhookOptions: { headers: { 'X-Sig': 'a\r\nHost: evil' } } }, 'webhookOptions.headers.X-Sig must not contain CR or LF'],
    ['a webhook header name', { webhookOptions: { headers: { 'X Sig': 'a' } } }, 'webhookOptions.headers: "X Sig" is not a valid header field name'],
  ];
  for (const [name, patch, expected] of cases) {
    it(`${name} -> "${expected}"`, () => assertInvalid(validateSendRequest({ ...email, ...patch }), expected));
  }

  it('refuses custom headers that notify writes itself, in any case', () => {
    for (const name of ['From', 'To', 'cc', 'BCC', 'Subject', 'Date', 'message-id', 'Content-Type', 'MIME-Version', 'Content-Transfer-Encoding']) {
      assertInvalid(validateSendRequest({ ...email, emailOptions: { headers: { [name]: 'x' } } }), `emailOptions.headers: ${name} cannot be set by the caller`);
    }
  });

  it('accepts ordinary custom headers', () => {
    const value = valueOf(validateSendRequest({ ...email, emailOptions: { headers: { 'List-Unsubscribe': '<https://x.y/u>', 'X-Entity-Ref-ID': '1' } } }));
    assert.deepEqual(value.emailOptions?.headers, { 'List-Unsubscribe': '<https://x.y/u>', 'X-Entity-Ref-ID': '1' });
  });
});

describe('validateSendRequest: email addresses', () => {
  it('requires a bare address as the email recipient (RFC 5321 §4.1.2)', () => {
    assertInvalid(validateSendRequest({ ...email, recipient: 'not-an-address' }), 'recipient is not a valid email address');
    assertInvalid(validateSendRequest({ ...email, recipient: 'Ada <ada@example.com>' }), 'recipient is not a valid email address');
    assertInvalid(validateSendRequest({ ...email, recipients: ['ok@example.com', 'nope'] }), 'recipients[1] is not a valid email address');
  });

  it('does not treat push tokens and webhook URLs as addresses', () => {
    valueOf(validateSendRequest({ ...email, channel: 'push', recipient: 'ExponentPushToken[x]' }));
    valueOf(validateSendRequest({ ...email, channel: 'webhook', recipient: 'https://hook.example/a' }));
  });

  it('requires valid mailboxes in from, replyTo, cc and bcc', () => {
    assertInvalid(validateSendRequest({ ...email, emailOptions: { from: 'Mana' } }), 'emailOptions.from is not a valid email address');
    assertInvalid(validateSendRequest({ ...email, emailOptions: { replyTo: 'a@' } }), 'emailOptions.replyTo is not a valid email address');
    assertInvalid(validateSendRequest({ ...email, emailOptions: { cc: ['a@b.c', 'x'] } }), 'emailOptions.cc is not a valid email address');
    assertInvalid(validateSendRequest({ ...email, emailOptions: { bcc: 'a@b.c, d@e.f' } }), 'emailOptions.bcc is not a valid email address');
  });

  it('turns a single cc or bcc string into a list', () => {
    const value = valueOf(validateSendRequest({ ...email, emailOptions: { cc: 'Carol <carol@example.com>', bcc: ['b@example.com'] } }));
    assert.deepEqual(value.emailOptions?.cc, ['Carol <carol@example.com>']);
    assert.deepEqual(value.emailOptions?.bcc, ['b@example.com']);
  });

  it('keeps the new text part', () => {
    assert.equal(valueOf(validateSendRequest({ ...email, text: 'Hi' })).text, 'Hi');
  });
});

describe('validateScheduleRequest', () => {
  const now = new Date('2026-04-03T12:00:00Z');
  const later = '2026-04-03T14:00:00+01:00';

  it('checks scheduledFor before anything else, with the original messages', () => {
    assertInvalid(validateScheduleRequest({}, { now }), 'scheduledFor must be a valid RFC3339 timestamp');
    assertInvalid(validateScheduleRequest({ scheduledFor: 'tomorrow' }, { now }), 'scheduledFor must be a valid RFC3339 timestamp');
    assertInvalid(validateScheduleRequest({ scheduledFor: '2026-04-03T11:59:59Z' }, { now }), 'scheduledFor must be in the future');
    assertInvalid(validateScheduleRequest({ scheduledFor: later }, { now }), 'channel is required');
  });

  it('returns the send request with scheduledFor as a Date', () => {
    const value = valueOf(validateScheduleRequest({ ...email, scheduledFor: later }, { now }));
    assert.equal(value.scheduledFor.toISOString(), '2026-04-03T13:00:00.000Z');
    assert.equal(value.channel, 'email');
    assert.equal('scheduledFor' in value, true);
  });

  it('is malformed when scheduledFor is not a string', () => {
    assertMalformed(validateScheduleRequest({ ...email, scheduledFor: 1775217600000 }, { now }));
  });
});

describe('parseRfc3339 (RFC 3339 §5.6, as Go time.RFC3339 parses)', () => {
  it('accepts Z, offsets and fractional seconds', () => {
    assert.equal(parseRfc3339('2026-04-03T15:03:46Z')?.toISOString(), '2026-04-03T15:03:46.000Z');
    assert.equal(parseRfc3339('2026-04-03T15:03:46.123456789+02:00')?.toISOString(), '2026-04-03T13:03:46.123Z');
    assert.equal(parseRfc3339('2024-02-29T00:00:00-05:30')?.toISOString(), '2024-02-29T05:30:00.000Z');
  });

  it('refuses other shapes and impossible dates', () => {
    for (const value of ['2026-04-03', '2026-04-03 15:03:46Z', '2026-04-03t15:03:46z', '2026-04-03T15:03:46', '2026-04-03T15:03Z', '2026-02-30T00:00:00Z', '2025-02-29T00:00:00Z', '2026-13-01T00:00:00Z', '2026-04-03T24:00:00Z', '2026-04-03T15:03:60Z', '2026-04-03T15:03:46+24:00', '2026-04-03T15:03:46+0100']) {
      assert.equal(parseRfc3339(value), undefined, value);
    }
  });
});

describe('validateBatchRequest', () => {
  const push = { channel: 'push', appId: 'a', userId: 'u', body: 'b' };

  it('"notifications array is required" when it is missing or empty', () => {
    assertInvalid(validateBatchRequest({}), 'notifications array is required');
    assertInvalid(validateBatchRequest({ notifications: [] }), 'notifications array is required');
    assertInvalid(validateBatchRequest({ notifications: null }), 'notifications array is required');
  });

  it('"maximum 100 notifications per batch" above 100', () => {
    assertInvalid(validateBatchRequest({ notifications: Array.from({ length: 101 }, () => push) }), 'maximum 100 notifications per batch');
    assert.equal(valueOf(validateBatchRequest({ notifications: Array.from({ length: 100 }, () => push) })).notifications.length, 100);
  });

  it('validates each item on its own', () => {
    const { notifications } = valueOf(validateBatchRequest({ notifications: [push, { channel: 'push' }, { ...email, subject: 'a\nb' }] }));
    assert.equal(notifications[0]?.ok, true);
    assert.equal(message(notifications[1]!), 'appId is required');
    assert.equal(message(notifications[2]!), 'subject must not contain CR or LF');
  });

  it('is malformed when any item has a wrong type, as the whole body failed to decode', () => {
    assertMalformed(validateBatchRequest({ notifications: [push, { ...push, data: [] }] }));
    assertMalformed(validateBatchRequest({ notifications: [push, 3] }));
    assertMalformed(validateBatchRequest({ notifications: 'x' }));
    assertMalformed(validateBatchRequest([push]));
  });
});

describe('validateTemplateCreate', () => {
  const template = { slug: 'space-invite', channel: 'email', subject: 'Einladung: {{.spaceName}}', bodyTemplate: '<p>{{.inviter}}</p>' };

  it('"slug, channel, and bodyTemplate are required"', () => {
    for (const missing of ['slug', 'channel', 'bodyTemplate']) {
      const body: Record<string, unknown> = { ...template };
      delete body[missing];
      assertInvalid(validateTemplateCreate(body), 'slug, channel, and bodyTemplate are required');
    }
    assertInvalid(validateTemplateCreate({ ...template, bodyTemplate: '' }), 'slug, channel, and bodyTemplate are required');
  });

  it('defaults the locale to de-DE and keeps variables as given', () => {
    const value = valueOf(validateTemplateCreate({ ...template, variables: ['spaceName', 'inviter'] }));
    assert.equal(value.locale, 'de-DE');
    assert.deepEqual(value.variables, ['spaceName', 'inviter']);
    assert.deepEqual(valueOf(validateTemplateCreate({ ...template, variables: { any: 'json' } })).variables, { any: 'json' });
  });

  it('refuses a bad channel, slug or locale with a message', () => {
    assertInvalid(validateTemplateCreate({ ...template, channel: 'sms' }), 'channel must be email, push, or webhook');
    assertInvalid(validateTemplateCreate({ ...template, slug: 'a/b' }), 'slug may contain only letters, digits, ".", "_" and "-"');
    assertInvalid(validateTemplateCreate({ ...template, locale: 'de DE' }), 'locale must be a language tag such as de-DE');
  });

  it('refuses template syntax errors, naming the part and the place', () => {
    assertInvalid(validateTemplateCreate({ ...template, bodyTemplate: '<p>\n{{if .x}}</p>' }), "invalid body template: line 2, column 1: {{if .x}} is never closed (expected '{{/if}}' or '{{end}}')");
    assert.match(message(validateTemplateCreate({ ...template, subject: 'Hi {{end}}' })) ?? '', /^invalid subject template: line 1, column 4: /);
  });

  it('refuses a subject template with a line break', () => {
    assertInvalid(validateTemplateCreate({ ...template, subject: 'a\nb' }), 'subject must not contain CR or LF');
  });

  it('is malformed on wrong types', () => {
    assertMalformed(validateTemplateCreate({ ...template, slug: 5 }));
  });
});

describe('validateTemplateUpdate', () => {
  it('accepts partial updates', () => {
    assert.deepEqual(valueOf(validateTemplateUpdate({ isActive: false })), { isActive: false });
    assert.equal(valueOf(validateTemplateUpdate({ bodyTemplate: '<p>{{x}}</p>', text: '{{x}}' })).text, '{{x}}');
  });

  it('refuses wrong types and broken templates', () => {
    assertMalformed(validateTemplateUpdate({ isActive: 'yes' }));
    assert.match(message(validateTemplateUpdate({ bodyTemplate: '{{/if}}' })) ?? '', /^invalid body template: line 1, column 1: /);
  });
});

describe('validateTemplatePreview', () => {
  it('returns the template and data', () => {
    const value = valueOf(validateTemplatePreview({ subject: 'S {{a}}', bodyTemplate: 'B {{a}}', data: { a: 1 } }));
    assert.deepEqual(value, { subject: 'S {{a}}', bodyTemplate: 'B {{a}}', data: { a: 1 } });
  });

  it('reads "invalid subject template: …" and "invalid body template: …" like the original', () => {
    assert.match(message(validateTemplatePreview({ subject: '{{#if a}}', bodyTemplate: 'x' })) ?? '', /^invalid subject template: /);
    assert.match(message(validateTemplatePreview({ bodyTemplate: '{{range .x}}' })) ?? '', /^invalid body template: /);
  });

  it('is malformed when data is not an object', () => {
    assertMalformed(validateTemplatePreview({ bodyTemplate: 'x', data: [1] }));
    assertMalformed(validateTemplateSlugPreview({ data: 'x' }));
    assert.deepEqual(valueOf(validateTemplateSlugPreview({ data: { a: 1 } })), { data: { a: 1 } });
  });
});

describe('validatePreferencesUpdate', () => {
  it('accepts the original fields', () => {
    const body = { emailEnabled: true, pushEnabled: false, quietHoursEnabled: true, quietHoursStart: '22:00', quietHoursEnd: '7:30', timezone: 'Europe/Berlin', categoryPreferences: { calendar: { reminders: true } } };
    assert.deepEqual(valueOf(validatePreferencesUpdate(body)), body);
  });

  it('checks HH:MM (the NestJS rule) and the time zone', () => {
    assertInvalid(validatePreferencesUpdate({ quietHoursStart: '24:00' }), 'quietHoursStart must be HH:MM (00:00-23:59)');
    assertInvalid(validatePreferencesUpdate({ quietHoursEnd: '7' }), 'quietHoursEnd must be HH:MM (00:00-23:59)');
    assertInvalid(validatePreferencesUpdate({ timezone: 'Mars/Olympus' }), 'timezone must be an IANA time zone such as Europe/Berlin');
  });

  it('is malformed on wrong types', () => {
    assertMalformed(validatePreferencesUpdate({ emailEnabled: 'true' }));
    assertMalformed(validatePreferencesUpdate({ categoryPreferences: [] }));
  });
});

describe('validateDeviceRegister', () => {
  it('"pushToken is required", tokenType defaults to expo', () => {
    assertInvalid(validateDeviceRegister({ platform: 'ios' }), 'pushToken is required');
    assert.equal(valueOf(validateDeviceRegister({ pushToken: 'ExponentPushToken[x]' })).tokenType, 'expo');
    assertMalformed(validateDeviceRegister({ pushToken: 1 }));
  });
});

describe('openApiComponents (OpenAPI 3.1, JSON Schema 2020-12)', () => {
  const components = openApiComponents();
  const schemas = components.schemas;

  it('describes every request body', () => {
    for (const name of ['SendRequest', 'ScheduleRequest', 'BatchRequest', 'EmailOptions', 'PushOptions', 'WebhookOptions', 'TemplateCreateRequest', 'TemplateUpdateRequest', 'TemplatePreviewRequest', 'TemplateSlugPreviewRequest', 'PreferencesUpdateRequest', 'DeviceRegisterRequest', 'ErrorEnvelope']) {
      assert.equal(schemas[name]?.['type'], 'object', name);
    }
  });

  it('shows required fields, limits, enums and defaults of the send body', () => {
    const send = schemas['SendRequest']!;
    const props = send['properties'] as Record<string, Record<string, unknown>>;
    assert.deepEqual(send['required'], ['channel', 'appId']);
    assert.deepEqual(props['channel']?.['enum'], ['email', 'push', 'webhook']);
    assert.equal(props['appId']?.['maxLength'], 50);
    assert.equal(props['subject']?.['maxLength'], 500);
    assert.equal(props['priority']?.['default'], 'normal');
    assert.deepEqual(props['emailOptions'], { $ref: '#/components/schemas/EmailOptions' });
    assert.deepEqual((schemas['ScheduleRequest']!['required'] as string[]).sort(), ['appId', 'channel', 'scheduledFor']);
  });

  it('only refers to components that exist, and has no $schema or $id inside components', () => {
    const text = JSON.stringify(components);
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) assert.ok(schemas[name!], `dangling $ref ${name}`);
    assert.doesNotMatch(text, /"\$schema"|"\$id"|"\$defs"/);
  });

  it('takes extra schemas such as responses', async () => {
    const { z } = await import('zod');
    const more = openApiComponents({ SendAccepted: z.object({ notification: z.object({ id: z.string(), status: z.literal('pending') }) }) });
    assert.equal(more.schemas['SendAccepted']?.['type'], 'object');
    assert.ok(more.schemas['SendRequest']);
  });
});
