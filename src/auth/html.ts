// HTML of auth's pages (HTML 5, WCAG 2.1 AA habits: labels, lang, landmarks, role=alert, visible focus), in de-DE and en-US; no client script.
import { escapeHtml, type AuthLocale } from './emails.ts';

const TEXT = {
  'en-US': {
    brand: 'Mana',
    register: 'Create account',
    registerLead: 'Create your Mana account. We will send you a link to confirm your email address.',
    name: 'Name',
    email: 'Email address',
    password: 'Password',
    passwordHint: 'At least 8 characters.',
    newPassword: 'New password',
    confirmPassword: 'Repeat new password',
    signIn: 'Sign in',
    signOut: 'Sign out',
    haveAccount: 'Already have an account?',
    noAccount: 'No account yet?',
    forgot: 'Forgot your password?',
    checkInbox: 'Check your inbox',
    checkInboxLead: 'If the address can receive mail from us, a message with a link is on its way to {email}. The link works once.',
    resend: 'Send the confirmation email again',
    resendLead: 'Enter your address and we will send a new confirmation link.',
    send: 'Send',
    verifyTitle: 'Confirm your email address',
    verifyLead: 'Press the button to confirm your email address.',
    verifyButton: 'Confirm email address',
    verified: 'Email address confirmed',
    verifiedLead: 'Thank you. Your address is confirmed and you are signed in.',
    continue: 'Continue',
    linkInvalid: 'This link is invalid or has expired.',
    linkInvalidLead: 'Links in our emails work once and for a limited time. Ask for a new one.',
    forgotTitle: 'Reset your password',
    forgotLead: 'Enter your email address. If it has an account, we will send you a link to choose a new password. The link is valid for 1 hour.',
    resetTitle: 'Choose a new password',
    resetButton: 'Save new password',
    resetDone: 'Password changed',
    resetDoneLead: 'Your new password is saved. Sign in with it.',
    mismatch: 'The two passwords differ.',
    tooShort: 'The password must have at least 8 characters.',
    badCredentials: 'Email address or password is wrong.',
    notVerified: 'Please confirm your email address first; we sent you a link when you registered.',
    rateLimited: 'Too many attempts. Please wait a few minutes and try again.',
    invalidInput: 'Please check your input.',
    magicTitle: 'Sign in with a link',
    magicLead: 'Press the button to sign in.',
    magicButton: 'Sign in',
    magicRequest: 'Email me a sign-in link',
    magicRequestLead: 'No password at hand? We can send you a link that signs you in. It is valid for 10 minutes.',
    accountTitle: 'Your account',
    signedInAs: 'Signed in as {email}.',
    inviteTitle: 'Invitation',
    inviteLead: '{inviter} invited you to join {org}.',
    inviteSignIn: 'To accept this invitation, sign in with the invited email address, or create an account with it.',
    inviteWrongUser: 'This invitation is for another email address. Sign out and sign in with the invited address.',
    inviteAccept: 'Accept invitation',
    inviteDecline: 'Decline',
    inviteAccepted: 'Welcome to {org}',
    inviteAcceptedLead: 'You are now a member of {org}.',
    inviteDeclined: 'Invitation declined',
    inviteGone: 'This invitation is no longer valid.',
    error: 'Something went wrong',
    errorLead: 'Please try again later.',
    notFound: 'Page not found',
  },
  'de-DE': {
    brand: 'Mana',
    register: 'Konto erstellen',
    registerLead: 'Erstelle dein Mana-Konto. Wir schicken dir einen Link, mit dem du deine E-Mail-Adresse bestätigst.',
    name: 'Name',
    email: 'E-Mail-Adresse',
    password: 'Passwort',
    passwordHint: 'Mindestens 8 Zeichen.',
    newPassword: 'Neues Passwort',
    confirmPassword: 'Neues Passwort wiederholen',
    signIn: 'Anmelden',
    signOut: 'Abmelden',
    haveAccount: 'Schon ein Konto?',
    noAccount: 'Noch kein Konto?',
    forgot: 'Passwort vergessen?',
    checkInbox: 'Schau in dein Postfach',
    checkInboxLead: 'Wenn die Adresse E-Mails von uns empfangen kann, ist eine Nachricht mit einem Link an {email} unterwegs. Der Link funktioniert einmal.',
    resend: 'Bestätigungs-E-Mail erneut senden',
    resendLead: 'Gib deine Adresse ein, und wir schicken dir einen neuen Bestätigungslink.',
    send: 'Senden',
    verifyTitle: 'E-Mail-Adresse bestätigen',
    verifyLead: 'Drücke den Knopf, um deine E-Mail-Adresse zu bestätigen.',
    verifyButton: 'E-Mail-Adresse bestätigen',
    verified: 'E-Mail-Adresse bestätigt',
    verifiedLead: 'Danke. Deine Adresse ist bestätigt, und du bist angemeldet.',
    continue: 'Weiter',
    linkInvalid: 'Dieser Link ist ungültig oder abgelaufen.',
    linkInvalidLead: 'Links in unseren E-Mails funktionieren einmal und nur eine Zeit lang. Fordere einen neuen an.',
    forgotTitle: 'Passwort zurücksetzen',
    forgotLead: 'Gib deine E-Mail-Adresse ein. Wenn es dazu ein Konto gibt, schicken wir dir einen Link für ein neues Passwort. Der Link ist 1 Stunde gültig.',
    resetTitle: 'Neues Passwort wählen',
    resetButton: 'Neues Passwort speichern',
    resetDone: 'Passwort geändert',
    resetDoneLead: 'Dein neues Passwort ist gespeichert. Melde dich damit an.',
    mismatch: 'Die beiden Passwörter sind verschieden.',
    tooShort: 'Das Passwort braucht mindestens 8 Zeichen.',
    badCredentials: 'E-Mail-Adresse oder Passwort ist falsch.',
    notVerified: 'Bitte bestätige zuerst deine E-Mail-Adresse; wir haben dir bei der Registrierung einen Link geschickt.',
    rateLimited: 'Zu viele Versuche. Bitte warte ein paar Minuten und versuche es dann erneut.',
    invalidInput: 'Bitte prüfe deine Eingaben.',
    magicTitle: 'Mit Link anmelden',
    magicLead: 'Drücke den Knopf, um dich anzumelden.',
    magicButton: 'Anmelden',
    magicRequest: 'Anmeldelink per E-Mail',
    magicRequestLead: 'Kein Passwort zur Hand? Wir schicken dir einen Link, der dich anmeldet. Er ist 10 Minuten gültig.',
    accountTitle: 'Dein Konto',
    signedInAs: 'Angemeldet als {email}.',
    inviteTitle: 'Einladung',
    inviteLead: '{inviter} hat dich zu {org} eingeladen.',
    inviteSignIn: 'Um die Einladung anzunehmen, melde dich mit der eingeladenen E-Mail-Adresse an oder erstelle damit ein Konto.',
    inviteWrongUser: 'Diese Einladung gilt einer anderen E-Mail-Adresse. Melde dich ab und mit der eingeladenen Adresse an.',
    inviteAccept: 'Einladung annehmen',
    inviteDecline: 'Ablehnen',
    inviteAccepted: 'Willkommen bei {org}',
    inviteAcceptedLead: 'Du bist jetzt Mitglied von {org}.',
    inviteDeclined: 'Einladung abgelehnt',
    inviteGone: 'Diese Einladung ist nicht mehr gültig.',
    error: 'Etwas ist schiefgegangen',
    errorLead: 'Bitte versuche es später noch einmal.',
    notFound: 'Seite nicht gefunden',
  },
} as const;

export type TextKey = keyof (typeof TEXT)['en-US'];

/** Localised text with {name} placeholders filled in and HTML-escaped. */
export function t(locale: AuthLocale, key: TextKey, vars: Record<string, string> = {}): string {
  return escapeHtml(TEXT[locale][key]).replace(/\{(\w+)\}/g, (_, k: string) => (k in vars ? `<strong>${escapeHtml(vars[k]!)}</strong>` : ''));
}

export const CSS = `
:root{color-scheme:light dark;--fg:#1b1d21;--bg:#f6f7f9;--card:#fff;--muted:#555b66;--accent:#2848c8;--accent-fg:#fff;--err:#a4161a;--ok:#1d6b37;--border:#c9ced6}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaee;--bg:#15171b;--card:#1f2228;--muted:#a9b0bc;--accent:#8ea6ff;--accent-fg:#0c0f1a;--err:#ff8b8e;--ok:#7bd99a;--border:#3a3f49}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:1rem 1.25rem;font-weight:700;font-size:1.1rem}
main{max-width:26rem;margin:1rem auto 3rem;padding:1.5rem;background:var(--card);border:1px solid var(--border);border-radius:.75rem}
h1{font-size:1.5rem;margin:0 0 .75rem}
p{margin:.5rem 0 1rem}
label{display:block;font-weight:600;margin:.9rem 0 .25rem}
input[type=email],input[type=password],input[type=text]{width:100%;padding:.6rem .7rem;font:inherit;color:inherit;background:var(--bg);border:1px solid var(--border);border-radius:.4rem}
.hint{color:var(--muted);font-size:.9rem;margin:.25rem 0 0}
button{margin-top:1.25rem;width:100%;padding:.7rem 1rem;font:inherit;font-weight:600;border:0;border-radius:.4rem;background:var(--accent);color:var(--accent-fg);cursor:pointer}
button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
a{color:var(--accent)}
.alert{padding:.7rem .9rem;border-radius:.4rem;border:1px solid currentColor;margin:0 0 1rem}
.alert.error{color:var(--err)}.alert.ok{color:var(--ok)}
nav.links{margin-top:1.25rem;display:flex;flex-direction:column;gap:.4rem}
hr{border:0;border-top:1px solid var(--border);margin:1.5rem 0}
`;

/** `title` and `body` are HTML (escaped by t() or the caller). */
export function layout(o: { locale: AuthLocale; title: string; body: string }): string {
  return `<!DOCTYPE html>
<html lang="${o.locale.slice(0, 2)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${o.title.replace(/<[^>]*>/g, '')} — Mana</title>
<link rel="stylesheet" href="/auth.css">
</head>
<body>
<header role="banner">${t(o.locale, 'brand')}</header>
<main id="main">
<h1>${o.title}</h1>
${o.body}
</main>
</body>
</html>
`;
}

export function alert(kind: 'error' | 'ok', html: string): string {
  return `<div class="alert ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${html}</div>`;
}

export function field(o: { name: string; label: string; type: 'email' | 'password' | 'text'; autocomplete: string; value?: string; required?: boolean; hint?: string; minlength?: number; autofocus?: boolean }): string {
  const id = `f-${o.name}`;
  const hint = o.hint ? `<p class="hint" id="${id}-hint">${o.hint}</p>` : '';
  return `<label for="${id}">${o.label}</label>
<input id="${id}" name="${o.name}" type="${o.type}" autocomplete="${o.autocomplete}"${o.value ? ` value="${escapeHtml(o.value)}"` : ''}${o.required === false ? '' : ' required'}${o.minlength ? ` minlength="${o.minlength}"` : ''}${o.hint ? ` aria-describedby="${id}-hint"` : ''}${o.autofocus ? ' autofocus' : ''}>${hint}`;
}

export function hidden(name: string, value: string | undefined): string {
  return value ? `<input type="hidden" name="${name}" value="${escapeHtml(value)}">` : '';
}

export function form(o: { action: string; body: string; button: string; secondary?: boolean }): string {
  return `<form method="post" action="${escapeHtml(o.action)}">
${o.body}
<button type="submit"${o.secondary ? ' class="secondary"' : ''}>${o.button}</button>
</form>`;
}

export function links(items: Array<[href: string, label: string]>): string {
  return `<nav class="links" aria-label="more">${items.map(([h, l]) => `<a href="${escapeHtml(h)}">${l}</a>`).join('')}</nav>`;
}
