// The emails auth sends: notify template slug + variables, with a localised subject/HTML/text fallback used when notify lacks the template (no RFC; HTML escaped per HTML 5 §13.1).
import type { OutboxEmail } from './outbox.ts';

export type AuthLocale = 'de-DE' | 'en-US';
export const LOCALES: readonly AuthLocale[] = ['de-DE', 'en-US'];

/** The original service wrote German only; de-DE stays the default. */
export const DEFAULT_AUTH_LOCALE: AuthLocale = 'de-DE';

/** A stored locale or an Accept-Language value -> one we have text for: `en*` -> en-US, `de*` -> de-DE, in preference order. */
export function authLocale(requested: string | null | undefined): AuthLocale {
  if (!requested) return DEFAULT_AUTH_LOCALE;
  const ranges = requested
    .split(',')
    .map((part, order) => {
      const [range = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p)).find((m) => m !== null);
      return { lang: range.trim().toLowerCase().replace(/_/g, '-').split('-')[0] ?? '', q: q ? Number(q[1]) : 1, order };
    })
    .filter((r) => r.lang && r.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order);
  for (const r of ranges) {
    if (r.lang === 'de') return 'de-DE';
    if (r.lang === 'en') return 'en-US';
  }
  return DEFAULT_AUTH_LOCALE;
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** How long each link lives; the outbox stops trying once the link would be dead. */
export const LIFETIMES = {
  verification: 24 * HOUR,
  passwordReset: 1 * HOUR,
  magicLink: 10 * MINUTE,
  invitation: 48 * HOUR,
  changeEmail: 24 * HOUR,
  notice: 72 * HOUR,
} as const;

type Common = { to: string; locale: AuthLocale; userId?: string; now?: number };

function email(options: Common & { kind: string; template: string; data: Record<string, string>; subject: string; paragraphs: string[]; text: string[]; lifetime: number }): OutboxEmail {
  const body = `<!DOCTYPE html><html lang="${options.locale.slice(0, 2)}"><body>${options.paragraphs.map((p) => `<p>${p}</p>`).join('')}</body></html>`;
  return {
    kind: options.kind,
    expiresAt: (options.now ?? Date.now()) + options.lifetime,
    request: {
      channel: 'email',
      appId: 'mana-auth',
      recipient: options.to,
      ...(options.userId ? { userId: options.userId } : {}),
      template: options.template,
      locale: options.locale,
      data: { ...options.data, locale: options.locale },
      subject: options.subject,
      body,
      text: options.text.join('\n\n') + '\n',
      priority: 'high',
    },
  };
}

const hello = (locale: AuthLocale, name: string | undefined) => (locale === 'de-DE' ? `Hallo ${name || ''},`.replace(' ,', ',') : `Hello ${name || ''},`.replace(' ,', ','));
const link = (url: string, label: string) => `<a href="${escapeHtml(url)}">${escapeHtml(label)}</a>`;

export function verificationEmail(o: Common & { url: string; name?: string }): OutboxEmail {
  const de = o.locale === 'de-DE';
  const label = de ? 'E-Mail bestätigen' : 'Confirm email address';
  return email({
    ...o,
    kind: 'verification',
    template: 'auth-verification',
    data: { verificationUrl: o.url, userName: o.name ?? '' },
    subject: de ? 'E-Mail bestätigen — Mana' : 'Confirm your email address — Mana',
    paragraphs: [escapeHtml(hello(o.locale, o.name)), de ? 'Bitte bestätige deine E-Mail-Adresse:' : 'Please confirm your email address:', link(o.url, label), `${de ? 'Oder kopiere diesen Link' : 'Or copy this link'}: ${escapeHtml(o.url)}`, de ? 'Dieser Link ist 24 Stunden gültig.' : 'This link is valid for 24 hours.'],
    text: [hello(o.locale, o.name), de ? 'Bitte bestätige deine E-Mail-Adresse:' : 'Please confirm your email address:', o.url, de ? 'Dieser Link ist 24 Stunden gültig.' : 'This link is valid for 24 hours.'],
    lifetime: LIFETIMES.verification,
  });
}

export function passwordResetEmail(o: Common & { url: string; name?: string }): OutboxEmail {
  const de = o.locale === 'de-DE';
  return email({
    ...o,
    kind: 'password-reset',
    template: 'auth-password-reset',
    data: { resetUrl: o.url, userName: o.name ?? '' },
    subject: de ? 'Passwort zurücksetzen — Mana' : 'Reset your password — Mana',
    paragraphs: [escapeHtml(hello(o.locale, o.name)), de ? 'Klicke hier, um dein Passwort zurückzusetzen:' : 'Use this link to reset your password:', link(o.url, de ? 'Passwort zurücksetzen' : 'Reset password'), de ? 'Der Link ist 1 Stunde gültig.' : 'The link is valid for 1 hour.'],
    text: [hello(o.locale, o.name), de ? 'Klicke hier, um dein Passwort zurückzusetzen:' : 'Use this link to reset your password:', o.url, de ? 'Der Link ist 1 Stunde gültig.' : 'The link is valid for 1 hour.'],
    lifetime: LIFETIMES.passwordReset,
  });
}

export function invitationEmail(o: Common & { url: string; orgName: string; inviterName: string }): OutboxEmail {
  const de = o.locale === 'de-DE';
  const line = de ? `${o.inviterName} hat dich zu ${o.orgName} eingeladen.` : `${o.inviterName} invited you to join ${o.orgName}.`;
  const htmlLine = de ? `${escapeHtml(o.inviterName)} hat dich zu <strong>${escapeHtml(o.orgName)}</strong> eingeladen.` : `${escapeHtml(o.inviterName)} invited you to join <strong>${escapeHtml(o.orgName)}</strong>.`;
  return email({
    ...o,
    kind: 'invitation',
    template: 'auth-invitation',
    data: { inviterName: o.inviterName, orgName: o.orgName, inviteUrl: o.url },
    subject: de ? `Einladung: ${o.orgName} — Mana` : `Invitation: ${o.orgName} — Mana`,
    paragraphs: [htmlLine, link(o.url, de ? 'Einladung annehmen' : 'Accept invitation')],
    text: [line, o.url],
    lifetime: LIFETIMES.invitation,
  });
}

export function magicLinkEmail(o: Common & { url: string }): OutboxEmail {
  const de = o.locale === 'de-DE';
  return email({
    ...o,
    kind: 'magic-link',
    template: 'auth-magic-link',
    data: { url: o.url },
    subject: de ? 'Login-Link — Mana' : 'Your sign-in link — Mana',
    paragraphs: [de ? 'Klicke hier, um dich anzumelden:' : 'Use this link to sign in:', link(o.url, de ? 'Jetzt anmelden' : 'Sign in now'), de ? 'Der Link ist 10 Minuten gültig.' : 'The link is valid for 10 minutes.'],
    text: [de ? 'Klicke hier, um dich anzumelden:' : 'Use this link to sign in:', o.url, de ? 'Der Link ist 10 Minuten gültig.' : 'The link is valid for 10 minutes.'],
    lifetime: LIFETIMES.magicLink,
  });
}

export function changeEmailEmail(o: Common & { url: string; name?: string; newEmail: string }): OutboxEmail {
  const de = o.locale === 'de-DE';
  const line = de ? `Bitte bestätige die Änderung deiner E-Mail-Adresse zu ${o.newEmail}:` : `Please confirm changing your email address to ${o.newEmail}:`;
  return email({
    ...o,
    kind: 'change-email',
    template: 'auth-change-email',
    data: { confirmUrl: o.url, verificationUrl: o.url, url: o.url, userName: o.name ?? '', newEmail: o.newEmail },
    subject: de ? 'E-Mail-Adresse ändern — Mana' : 'Confirm your new email address — Mana',
    paragraphs: [escapeHtml(hello(o.locale, o.name)), escapeHtml(line), link(o.url, de ? 'Änderung bestätigen' : 'Confirm change')],
    text: [hello(o.locale, o.name), line, o.url],
    lifetime: LIFETIMES.changeEmail,
  });
}

export function accountDeletedEmail(o: Common & { name?: string }): OutboxEmail {
  const de = o.locale === 'de-DE';
  const line = de ? 'Dein Mana-Konto wurde gelöscht. Alle deine Daten wurden entfernt.' : 'Your Mana account has been deleted. All your data has been removed.';
  return email({
    ...o,
    kind: 'account-deleted',
    template: 'auth-account-deleted',
    data: { userName: o.name ?? '' },
    subject: de ? 'Konto gelöscht — Mana' : 'Account deleted — Mana',
    paragraphs: [escapeHtml(hello(o.locale, o.name)), escapeHtml(line)],
    text: [hello(o.locale, o.name), line],
    lifetime: LIFETIMES.notice,
  });
}

export function welcomeEmail(o: Common & { name?: string; loginUrl: string }): OutboxEmail {
  const de = o.locale === 'de-DE';
  const line = de ? 'deine E-Mail-Adresse ist bestätigt. Willkommen bei Mana!' : 'your email address is confirmed. Welcome to Mana!';
  return email({
    ...o,
    kind: 'welcome',
    template: 'auth-welcome',
    data: { userName: o.name ?? '', loginUrl: o.loginUrl },
    subject: de ? 'Willkommen bei Mana!' : 'Welcome to Mana!',
    paragraphs: [escapeHtml(hello(o.locale, o.name)), escapeHtml(line), link(o.loginUrl, de ? 'Anmelden' : 'Sign in')],
    text: [hello(o.locale, o.name), line, o.loginUrl],
    lifetime: LIFETIMES.notice,
  });
}
