// Tests for builtin.ts: the auth-* system templates, their subjects, variables, links and layout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUILTIN_LOCALES, BUILTIN_SLUGS, BUILTIN_TEMPLATES, findBuiltinTemplate, type BuiltinSlug } from './builtin.ts';
import { renderTemplate, templateVariables } from './render.ts';

const SAMPLE: Record<string, string> = {
  verificationUrl: 'https://auth.mana.how/api/auth/verify-email?token=abc&callbackURL=https%3A%2F%2Fmana.how',
  resetUrl: 'https://auth.mana.how/reset-password?token=r1&x=2',
  loginUrl: 'https://mana.how/login',
  inviteUrl: 'https://mana.how/accept-invitation?id=inv1&y=3',
  url: 'https://auth.mana.how/api/auth/magic-link/verify?token=m1&z=4',
  confirmUrl: 'https://auth.mana.how/api/auth/verify-email?token=c1&w=5',
  userName: 'Ada <Lovelace>',
  inviterName: 'Grace & Co',
  orgName: 'Analytical <Engines>',
  newEmail: 'ada@new.example',
};

const URL_VARIABLE: Partial<Record<BuiltinSlug, string>> = {
  'auth-verification': 'verificationUrl',
  'auth-password-reset': 'resetUrl',
  'auth-welcome': 'loginUrl',
  'auth-invitation': 'inviteUrl',
  'auth-magic-link': 'url',
  'auth-change-email': 'confirmUrl',
};

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// The void elements of HTML; every other element the templates open must be closed in order.
const VOID = new Set(['meta', 'br', 'img', 'hr', 'link', 'input']);
function unbalancedTags(html: string): string[] {
  const stack: string[] = [];
  const problems: string[] = [];
  for (const m of html.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>/g)) {
    const name = m[2]!.toLowerCase();
    if (VOID.has(name)) continue;
    if (m[1] === '') stack.push(name);
    else if (stack.pop() !== name) problems.push(`</${name}>`);
  }
  return [...problems, ...stack.map((s) => `<${s}> not closed`)];
}

describe('built-in templates', () => {
  it('has every auth-* slug in de-DE and en-US, all for the email channel', () => {
    assert.equal(BUILTIN_TEMPLATES.length, BUILTIN_SLUGS.length * BUILTIN_LOCALES.length);
    for (const slug of BUILTIN_SLUGS) {
      for (const locale of BUILTIN_LOCALES) {
        const t = BUILTIN_TEMPLATES.find((x) => x.slug === slug && x.locale === locale);
        assert.ok(t, `${slug} ${locale}`);
        assert.equal(t.channel, 'email');
      }
    }
  });

  it('keeps the German subjects of the original auth service', () => {
    const subjects = Object.fromEntries(BUILTIN_TEMPLATES.filter((t) => t.locale === 'de-DE').map((t) => [t.slug, t.subject]));
    assert.equal(subjects['auth-verification'], 'E-Mail bestätigen — Mana');
    assert.equal(subjects['auth-password-reset'], 'Passwort zurücksetzen — Mana');
    assert.equal(subjects['auth-welcome'], 'Willkommen bei Mana!');
    assert.equal(subjects['auth-invitation'], 'Einladung: {{orgName}} — Mana');
    assert.equal(subjects['auth-magic-link'], 'Login-Link — Mana');
    assert.equal(subjects['auth-account-deleted'], 'Konto gelöscht — Mana');
  });

  it('declares exactly the variables it uses', () => {
    const expected: Record<BuiltinSlug, string[]> = {
      'auth-verification': ['verificationUrl', 'userName'],
      'auth-password-reset': ['resetUrl', 'userName'],
      'auth-welcome': ['userName', 'loginUrl'],
      'auth-invitation': ['inviterName', 'orgName', 'inviteUrl'],
      'auth-magic-link': ['url'],
      'auth-account-deleted': ['userName'],
      'auth-change-email': ['userName', 'newEmail', 'confirmUrl'],
    };
    for (const t of BUILTIN_TEMPLATES) {
      assert.deepEqual([...t.variables].sort(), [...expected[t.slug]].sort(), `${t.slug} ${t.locale} declared`);
      assert.deepEqual(templateVariables(t).sort(), [...expected[t.slug]].sort(), `${t.slug} ${t.locale} used`);
    }
  });

  for (const t of BUILTIN_TEMPLATES) {
    it(`${t.slug} ${t.locale} renders a button link and the plain URL, escaped, in HTML and text`, () => {
      const out = renderTemplate(t, SAMPLE);
      assert.doesNotMatch(out.html + out.subject + out.text, /\{\{|\}\}/, 'no template tags left');
      assert.deepEqual(unbalancedTags(out.html), []);
      assert.match(out.html, /^<!DOCTYPE html>\n<html lang="(de|en)" dir="ltr">/);
      assert.match(out.html, /<meta charset="utf-8">/);
      assert.match(out.html, /<title>[^<]+<\/title>/);
      assert.match(out.html, /role="presentation"[^>]*max-width:600px/);
      assert.doesNotMatch(out.html, /Ada <Lovelace>|Analytical <Engines>|Grace & Co/, 'values are escaped in HTML');
      const variable = URL_VARIABLE[t.slug];
      if (variable !== undefined) {
        const href = `href="${escape(SAMPLE[variable]!)}"`;
        assert.equal(out.html.split(href).length - 1, 2, 'button and plain link');
        assert.ok(out.html.includes(`>${escape(SAMPLE[variable]!)}</a>`), 'the URL is shown as text');
        assert.ok(out.text.includes(SAMPLE[variable]!), 'the text part has the URL');
      }
      assert.doesNotMatch(out.text, /<[a-z/]|&amp;|&lt;/, 'the text part has no markup or entities');
      assert.doesNotMatch(out.subject, /[\r\n]/);
    });
  }

  it('says how long each link is valid (reset 1 hour, magic link 10 minutes, verification 24 hours)', () => {
    const text = (slug: string, locale: string): string => renderTemplate(findBuiltinTemplate(slug, locale)!, SAMPLE).text;
    assert.match(text('auth-password-reset', 'de-DE'), /1 Stunde gültig/);
    assert.match(text('auth-password-reset', 'en-US'), /valid for 1 hour/);
    assert.match(text('auth-magic-link', 'de-DE'), /10 Minuten gültig/);
    assert.match(text('auth-magic-link', 'en-US'), /valid for 10 minutes/);
    assert.match(text('auth-verification', 'de-DE'), /24 Stunden gültig/);
    assert.match(text('auth-verification', 'en-US'), /valid for 24 hours/);
  });

  it('greets without a dangling comma when there is no name (the original wrote "Hallo ,")', () => {
    const out = renderTemplate(findBuiltinTemplate('auth-account-deleted', 'de-DE')!, {});
    assert.match(out.text, /^Hallo,$/m);
    assert.doesNotMatch(out.text, /Hallo ,/);
    assert.match(renderTemplate(findBuiltinTemplate('auth-account-deleted', 'de-DE')!, { userName: 'Ada' }).text, /^Hallo Ada,$/m);
  });

  it('renders the invitation subject with the organisation name raw', () => {
    const out = renderTemplate(findBuiltinTemplate('auth-invitation', 'de-DE')!, SAMPLE);
    assert.equal(out.subject, 'Einladung: Analytical <Engines> — Mana');
    assert.match(out.text, /Grace & Co hat dich zu Analytical <Engines> bei Mana eingeladen\./);
  });

  it('names a fallback inviter when none is given', () => {
    assert.match(renderTemplate(findBuiltinTemplate('auth-invitation', 'de-DE')!, { orgName: 'X' }).text, /Ein Teammitglied hat dich/);
  });

  it('leaves the welcome button out when there is no loginUrl', () => {
    const out = renderTemplate(findBuiltinTemplate('auth-welcome', 'en-US')!, { userName: 'Ada' });
    assert.doesNotMatch(out.html, /<a /);
  });

  it('tells the change-email recipient which address is requested', () => {
    assert.match(renderTemplate(findBuiltinTemplate('auth-change-email', 'en-US')!, SAMPLE).text, /to ada@new\.example\./);
  });

  it('finds a template by slug and the best locale', () => {
    assert.equal(findBuiltinTemplate('auth-welcome', 'en-GB')?.locale, 'en-US');
    assert.equal(findBuiltinTemplate('auth-welcome', 'de')?.locale, 'de-DE');
    assert.equal(findBuiltinTemplate('auth-welcome', 'fr')?.locale, 'de-DE');
    assert.equal(findBuiltinTemplate('auth-welcome')?.locale, 'de-DE');
    assert.equal(findBuiltinTemplate('calendar-reminder', 'de-DE'), undefined);
  });
});
