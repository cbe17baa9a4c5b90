// The built-in (system) email templates of notify, auth-* in de-DE and en-US, in the render.ts template language.
import { emailLayout, type EmailCopy } from './layout.ts';
import { pickLocale } from './locale.ts';

export const BUILTIN_LOCALES = ['de-DE', 'en-US'] as const;
export type BuiltinLocale = (typeof BUILTIN_LOCALES)[number];

export const BUILTIN_SLUGS = [
  'auth-verification',
  'auth-password-reset',
  'auth-welcome',
  'auth-invitation',
  'auth-magic-link',
  'auth-account-deleted',
  'auth-change-email',
] as const;
export type BuiltinSlug = (typeof BUILTIN_SLUGS)[number];

export type BuiltinTemplate = {
  readonly slug: BuiltinSlug;
  readonly locale: BuiltinLocale;
  readonly channel: 'email';
  readonly subject: string;
  readonly bodyTemplate: string;
  /** Every variable the subject and body refer to */
  readonly variables: readonly string[];
};

type Definition = {
  variables: readonly string[];
  copy: Record<BuiltinLocale, { subject: string } & EmailCopy>;
};

const GREETING = {
  de: '{{#if userName}}Hallo {{userName}},{{else}}Hallo,{{/if}}',
  en: '{{#if userName}}Hi {{userName}},{{else}}Hi,{{/if}}',
};
const FALLBACK = {
  de: 'Falls der Button nicht funktioniert, kopiere diesen Link in deinen Browser:',
  en: 'If the button does not work, copy this link into your browser:',
};
const FOOTER = {
  de: 'Diese E-Mail wurde automatisch von Mana versendet. Bitte antworte nicht darauf.',
  en: 'This email was sent automatically by Mana. Please do not reply to it.',
};

const DEFINITIONS: Record<BuiltinSlug, Definition> = {
  'auth-verification': {
    variables: ['verificationUrl', 'userName'],
    copy: {
      'de-DE': {
        subject: 'E-Mail bestätigen — Mana',
        lang: 'de',
        heading: 'Bestätige deine E-Mail-Adresse',
        greeting: GREETING.de,
        paragraphs: ['danke für deine Registrierung bei Mana. Bitte bestätige deine E-Mail-Adresse, damit wir wissen, dass sie dir gehört.'],
        action: { label: 'E-Mail bestätigen', urlVariable: 'verificationUrl', fallback: FALLBACK.de },
        notes: ['Dieser Link ist 24 Stunden gültig.', 'Wenn du kein Mana-Konto angelegt hast, kannst du diese E-Mail ignorieren.'],
        footer: FOOTER.de,
      },
      'en-US': {
        subject: 'Confirm your email — Mana',
        lang: 'en',
        heading: 'Confirm your email address',
        greeting: GREETING.en,
        paragraphs: ['Thanks for signing up for Mana. Please confirm your email address so we know it belongs to you.'],
        action: { label: 'Confirm email', urlVariable: 'verificationUrl', fallback: FALLBACK.en },
        notes: ['This link is valid for 24 hours.', 'If you did not create a Mana account, you can ignore this email.'],
        footer: FOOTER.en,
      },
    },
  },
  'auth-password-reset': {
    variables: ['resetUrl', 'userName'],
    copy: {
      'de-DE': {
        subject: 'Passwort zurücksetzen — Mana',
        lang: 'de',
        heading: 'Passwort zurücksetzen',
        greeting: GREETING.de,
        paragraphs: ['wir haben eine Anfrage erhalten, das Passwort deines Mana-Kontos zurückzusetzen. Über den Button legst du ein neues Passwort fest.'],
        action: { label: 'Passwort zurücksetzen', urlVariable: 'resetUrl', fallback: FALLBACK.de },
        notes: ['Der Link ist 1 Stunde gültig.', 'Wenn du das nicht angefordert hast, ignoriere diese E-Mail. Dein Passwort bleibt unverändert.'],
        footer: FOOTER.de,
      },
      'en-US': {
        subject: 'Reset your password — Mana',
        lang: 'en',
        heading: 'Reset your password',
        greeting: GREETING.en,
        paragraphs: ['We received a request to reset the password of your Mana account. Use the button to choose a new one.'],
        action: { label: 'Reset password', urlVariable: 'resetUrl', fallback: FALLBACK.en },
        notes: ['This link is valid for 1 hour.', 'If you did not ask for this, ignore this email. Your password stays unchanged.'],
        footer: FOOTER.en,
      },
    },
  },
  'auth-welcome': {
    variables: ['userName', 'loginUrl'],
    copy: {
      'de-DE': {
        subject: 'Willkommen bei Mana!',
        lang: 'de',
        heading: 'Willkommen bei Mana!',
        greeting: GREETING.de,
        paragraphs: ['schön, dass du da bist. Dein Konto ist eingerichtet und bereit.'],
        action: { label: 'Zu Mana', urlVariable: 'loginUrl', fallback: FALLBACK.de, optional: true },
        footer: FOOTER.de,
      },
      'en-US': {
        subject: 'Welcome to Mana!',
        lang: 'en',
        heading: 'Welcome to Mana!',
        greeting: GREETING.en,
        paragraphs: ['Great to have you here. Your account is set up and ready.'],
        action: { label: 'Go to Mana', urlVariable: 'loginUrl', fallback: FALLBACK.en, optional: true },
        footer: FOOTER.en,
      },
    },
  },
  'auth-invitation': {
    variables: ['inviterName', 'orgName', 'inviteUrl'],
    copy: {
      'de-DE': {
        subject: 'Einladung: {{orgName}} — Mana',
        lang: 'de',
        heading: 'Du wurdest eingeladen',
        paragraphs: ['{{#if inviterName}}{{inviterName}}{{else}}Ein Teammitglied{{/if}} hat dich zu <strong>{{orgName}}</strong> bei Mana eingeladen.'],
        action: { label: 'Einladung annehmen', urlVariable: 'inviteUrl', fallback: FALLBACK.de },
        notes: ['Wenn du diese Einladung nicht erwartet hast, kannst du diese E-Mail ignorieren.'],
        footer: FOOTER.de,
      },
      'en-US': {
        subject: 'Invitation: {{orgName}} — Mana',
        lang: 'en',
        heading: 'You have been invited',
        paragraphs: ['{{#if inviterName}}{{inviterName}}{{else}}A team member{{/if}} invited you to join <strong>{{orgName}}</strong> on Mana.'],
        action: { label: 'Accept invitation', urlVariable: 'inviteUrl', fallback: FALLBACK.en },
        notes: ['If you did not expect this invitation, you can ignore this email.'],
        footer: FOOTER.en,
      },
    },
  },
  'auth-magic-link': {
    variables: ['url'],
    copy: {
      'de-DE': {
        subject: 'Login-Link — Mana',
        lang: 'de',
        heading: 'Dein Login-Link',
        paragraphs: ['Klicke auf den Button, um dich bei Mana anzumelden.'],
        action: { label: 'Jetzt anmelden', urlVariable: 'url', fallback: FALLBACK.de },
        notes: ['Der Link ist 10 Minuten gültig und funktioniert nur einmal.', 'Wenn du keinen Login-Link angefordert hast, kannst du diese E-Mail ignorieren.'],
        footer: FOOTER.de,
      },
      'en-US': {
        subject: 'Sign-in link — Mana',
        lang: 'en',
        heading: 'Your sign-in link',
        paragraphs: ['Click the button to sign in to Mana.'],
        action: { label: 'Sign in now', urlVariable: 'url', fallback: FALLBACK.en },
        notes: ['This link is valid for 10 minutes and works only once.', 'If you did not ask for a sign-in link, you can ignore this email.'],
        footer: FOOTER.en,
      },
    },
  },
  'auth-account-deleted': {
    variables: ['userName'],
    copy: {
      'de-DE': {
        subject: 'Konto gelöscht — Mana',
        lang: 'de',
        heading: 'Dein Konto wurde gelöscht',
        greeting: GREETING.de,
        paragraphs: ['dein Mana-Konto wurde erfolgreich gelöscht. Alle deine Daten wurden entfernt.', 'Schade, dass du gehst. Du bist jederzeit wieder willkommen.'],
        footer: FOOTER.de,
      },
      'en-US': {
        subject: 'Account deleted — Mana',
        lang: 'en',
        heading: 'Your account has been deleted',
        greeting: GREETING.en,
        paragraphs: ['Your Mana account has been deleted. All of your data has been removed.', 'We are sorry to see you go. You are welcome back any time.'],
        footer: FOOTER.en,
      },
    },
  },
  'auth-change-email': {
    variables: ['userName', 'newEmail', 'confirmUrl'],
    copy: {
      'de-DE': {
        subject: 'E-Mail-Änderung bestätigen — Mana',
        lang: 'de',
        heading: 'Änderung deiner E-Mail-Adresse bestätigen',
        greeting: GREETING.de,
        paragraphs: ['für dein Mana-Konto wurde angefragt, die E-Mail-Adresse in <strong>{{newEmail}}</strong> zu ändern. Bitte bestätige die Änderung.'],
        action: { label: 'Änderung bestätigen', urlVariable: 'confirmUrl', fallback: FALLBACK.de },
        notes: ['Wenn du das nicht angefragt hast, ignoriere diese E-Mail. Deine E-Mail-Adresse bleibt unverändert.'],
        footer: FOOTER.de,
      },
      'en-US': {
        subject: 'Confirm your email change — Mana',
        lang: 'en',
        heading: 'Confirm the change of your email address',
        greeting: GREETING.en,
        paragraphs: ['Someone asked to change the email address of your Mana account to <strong>{{newEmail}}</strong>. Please confirm the change.'],
        action: { label: 'Confirm change', urlVariable: 'confirmUrl', fallback: FALLBACK.en },
        notes: ['If you did not ask for this, ignore this email. Your email address stays unchanged.'],
        footer: FOOTER.en,
      },
    },
  },
};

/** Every built-in template, one per slug and locale. */
export const BUILTIN_TEMPLATES: readonly BuiltinTemplate[] = Object.freeze(
  BUILTIN_SLUGS.flatMap((slug) =>
    BUILTIN_LOCALES.map((locale): BuiltinTemplate => {
      const { subject, ...copy } = DEFINITIONS[slug].copy[locale];
      return Object.freeze({
        slug,
        locale,
        channel: 'email' as const,
        subject,
        bodyTemplate: emailLayout(copy),
        variables: Object.freeze([...DEFINITIONS[slug].variables]),
      });
    }),
  ),
);

export function isBuiltinSlug(slug: string): slug is BuiltinSlug {
  return (BUILTIN_SLUGS as readonly string[]).includes(slug);
}

/**
 * The built-in template for `slug` in the best locale for `locale` (a tag or an
 * Accept-Language list; see pickLocale). Undefined for a slug that is not built in.
 */
export function findBuiltinTemplate(slug: string, locale?: string | null): BuiltinTemplate | undefined {
  const candidates = BUILTIN_TEMPLATES.filter((t) => t.slug === slug);
  const chosen = pickLocale(locale, candidates.map((t) => t.locale));
  return candidates.find((t) => t.locale === chosen);
}
