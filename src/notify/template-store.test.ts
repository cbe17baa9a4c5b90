// Tests for stored templates: built-ins seeded as system templates (and refreshed), caller templates kept, locale choice by RFC 4647 lookup, system templates read-only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storeFactories } from '../../test/support/stores.ts';
import type { Store } from '../store/store.ts';
import { createTemplateStore, templateJson } from './template-store.ts';
import { BUILTIN_TEMPLATES } from './templates/builtin.ts';

for (const factory of storeFactories()) {
  describe(`template store (${factory.name})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await factory.open());
    });
    after(() => cleanup());

    it('seeds every built-in once; a second seed changes nothing; an outdated system text is refreshed', async () => {
      const t = createTemplateStore({ store });
      assert.equal(await t.seedBuiltins(), BUILTIN_TEMPLATES.length);
      assert.equal(await t.seedBuiltins(), 0);
      await store.run("UPDATE notify_templates SET body_template = 'old' WHERE slug = 'auth-welcome' AND locale = 'en-US'");
      assert.equal(await t.seedBuiltins(), 1);
      assert.equal((await t.get('auth-welcome', 'en-US'))!.body_template, BUILTIN_TEMPLATES.find((x) => x.slug === 'auth-welcome' && x.locale === 'en-US')!.bodyTemplate);
    });

    it('find picks the best locale: exact, same language, then de-DE', async () => {
      const t = createTemplateStore({ store });
      assert.equal((await t.find('auth-verification', 'en-US'))!.locale, 'en-US');
      assert.equal((await t.find('auth-verification', 'en-GB'))!.locale, 'en-US');
      assert.equal((await t.find('auth-verification', 'fr-FR, en;q=0.5'))!.locale, 'en-US');
      assert.equal((await t.find('auth-verification', 'fr-FR'))!.locale, 'de-DE');
      assert.equal((await t.find('auth-verification', undefined))!.locale, 'de-DE');
      assert.equal(await t.find('missing', 'de-DE'), undefined);
    });

    it('caller templates are created once per slug+locale, updated, deactivated and deleted; system ones are not', async () => {
      const t = createTemplateStore({ store });
      const id = await t.create({ slug: 'mine', channel: 'email', bodyTemplate: 'v1', locale: 'de-DE', variables: ['a'] });
      assert.ok(id);
      assert.equal(await t.create({ slug: 'mine', channel: 'email', bodyTemplate: 'v1', locale: 'de-DE' }), undefined);
      assert.equal(await t.update('mine', 'de-DE', { bodyTemplate: 'v2' }), true);
      assert.deepEqual(templateJson((await t.get('mine', 'de-DE'))!).variables, ['a']);
      assert.equal(await t.update('mine', 'de-DE', { isActive: false }), true);
      assert.equal(await t.find('mine', 'de-DE'), undefined, 'an inactive template is not used');
      assert.equal(await t.update('auth-welcome', 'de-DE', { bodyTemplate: 'x' }), false);
      assert.equal(await t.remove('auth-welcome'), false);
      assert.equal(await t.remove('mine'), true);
      assert.equal(await t.get('mine', 'de-DE'), undefined);
    });
  });
}
