// Tests for render.ts: both template syntaxes, escaping rules, missing values, and syntax errors with positions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTemplate, escapeHtml, renderTemplate, templateVariables, type TemplateError } from './render.ts';

function body(bodyTemplate: string, data: Record<string, unknown> = {}): string {
  return renderTemplate({ bodyTemplate }, data).html;
}

function syntaxError(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (err) {
    return err as TemplateError;
  }
  assert.fail('expected a template.invalid error');
}

describe('renderTemplate', () => {
  it('substitutes {{var}} and the original Go syntax {{.var}}', () => {
    assert.equal(body('<p>{{name}} / {{ name }} / {{.name}} / {{ .name }}</p>', { name: 'Ada' }), '<p>Ada / Ada / Ada / Ada</p>');
  });

  it('follows dotted paths into nested objects', () => {
    assert.equal(body('{{user.name}} {{.user.name}}', { user: { name: 'Ada' } }), 'Ada Ada');
  });

  it('renders missing variables as empty', () => {
    assert.equal(body('<p>Hallo {{userName}}, {{.nothing.deeper}}!</p>'), '<p>Hallo , !</p>');
  });

  it('renders numbers, booleans, lists and objects readably', () => {
    assert.equal(body('{{n}} {{b}} {{l}} {{o}}', { n: 3, b: true, l: ['a', 'b'], o: { k: 1 } }), '3 true a, b {&quot;k&quot;:1}');
  });

  it('HTML-escapes variables in the HTML body, attributes included', () => {
    const html = body('<a href="{{url}}" title=\'{{t}}\'>{{label}}</a>', {
      url: 'https://x.y/?a=1&b="2"',
      t: "it's",
      label: '<script>alert(1)</script>',
    });
    assert.equal(html, '<a href="https://x.y/?a=1&amp;b=&quot;2&quot;" title=\'it&#39;s\'>&lt;script&gt;alert(1)&lt;/script&gt;</a>');
  });

  it('inserts variables raw in the subject and the text template', () => {
    const out = renderTemplate({ subject: 'Einladung: {{orgName}} — Mana', bodyTemplate: '<p>{{orgName}}</p>', text: 'Org: {{orgName}}' }, { orgName: 'A & B <C>' });
    assert.equal(out.subject, 'Einladung: A & B <C> — Mana');
    assert.equal(out.text, 'Org: A & B <C>');
    assert.equal(out.html, '<p>A &amp; B &lt;C&gt;</p>');
  });

  it('folds line breaks in the subject to spaces, so a value cannot add header lines (RFC 5322 §2.2)', () => {
    const out = renderTemplate({ subject: 'Hi {{name}}\n', bodyTemplate: '' }, { name: 'x\r\nBcc: victim@example.com\ny' });
    assert.equal(out.subject, 'Hi x Bcc: victim@example.com y');
  });

  it('derives the text from the rendered HTML when there is no text template', () => {
    const out = renderTemplate({ bodyTemplate: '<p>Hi {{n}}</p><p><a href="{{u}}">Go</a></p>' }, { n: 'Ada & Co', u: 'https://x.y/?a=1&b=2' });
    assert.equal(out.text, 'Hi Ada & Co\n\nGo (https://x.y/?a=1&b=2)');
  });

  it("format 'text' renders the body unescaped for push and webhook channels", () => {
    const out = renderTemplate({ subject: '{{t}}', bodyTemplate: '{{a}} & {{b}}' }, { t: 'T', a: 'Tom', b: '<Jerry>' }, { format: 'text' });
    assert.deepEqual(out, { subject: 'T', html: '', text: 'Tom & <Jerry>' });
  });

  it('cannot reach the prototype chain through a variable name', () => {
    assert.equal(body('[{{constructor}}][{{toString}}][{{__proto__}}][{{a.constructor.name}}]', { a: {} }), '[][][][]');
  });

  it('accepts null data', () => {
    assert.equal(renderTemplate({ bodyTemplate: 'x{{a}}' }, null).html, 'x');
  });

  describe('conditionals', () => {
    it('{{#if}}…{{else}}…{{/if}} (Handlebars form)', () => {
      const t = '{{#if userName}}Hallo {{userName}},{{else}}Hallo,{{/if}}';
      assert.equal(body(t, { userName: 'Ada' }), 'Hallo Ada,');
      assert.equal(body(t, {}), 'Hallo,');
    });

    it('{{if .x}}…{{else}}…{{end}} (original Go text/template form)', () => {
      const t = '{{if .eventLocation}}<p>Ort: {{.eventLocation}}</p>{{else}}<p>kein Ort</p>{{end}}';
      assert.equal(body(t, { eventLocation: 'Berlin' }), '<p>Ort: Berlin</p>');
      assert.equal(body(t, {}), '<p>kein Ort</p>');
    });

    it('{{else if .y}} chains close with one {{end}}', () => {
      const t = '{{if .a}}A{{else if .b}}B{{else}}C{{end}}!';
      assert.equal(body(t, { a: 1 }), 'A!');
      assert.equal(body(t, { b: 1 }), 'B!');
      assert.equal(body(t, {}), 'C!');
    });

    it('nests', () => {
      const t = '{{#if a}}[{{#if b}}ab{{else}}a{{/if}}]{{/if}}';
      assert.equal(body(t, { a: true, b: true }), '[ab]');
      assert.equal(body(t, { a: true }), '[a]');
      assert.equal(body(t, { b: true }), '');
    });

    it('treats false, 0, "", null, empty lists and empty objects as false (Go text/template truth)', () => {
      for (const value of [false, 0, '', null, [], {}]) assert.equal(body('{{#if v}}yes{{else}}no{{/if}}', { v: value }), 'no', JSON.stringify(value));
      for (const value of [true, 1, 'x', [0], { a: 1 }]) assert.equal(body('{{#if v}}yes{{else}}no{{/if}}', { v: value }), 'yes', JSON.stringify(value));
    });
  });

  it('trims whitespace at {{- and -}} (Go) and {{~ and ~}} (Handlebars)', () => {
    assert.equal(body('a  \n {{- .x -}} \n  b', { x: 'X' }), 'aXb');
    assert.equal(body('a  {{~x~}}  b', { x: 'X' }), 'aXb');
  });

  it('drops comments in both syntaxes', () => {
    assert.equal(body('a{{/* go comment */}}b{{! hb comment }}c{{!-- has }} inside --}}d'), 'abcd');
  });

  it('renders the templates the original service seeded (Go syntax)', () => {
    const out = renderTemplate(
      {
        subject: 'Erinnerung: {{.eventTitle}}',
        bodyTemplate: '<!DOCTYPE html><html><body><h1>{{.eventTitle}}</h1><p>{{.eventTime}}</p>{{if .eventLocation}}<p>{{.eventLocation}}</p>{{end}}<a href="{{.eventUrl}}">Öffnen</a></body></html>',
      },
      { eventTitle: 'Team', eventTime: '10:00', eventUrl: 'https://mana.how/e/1' },
    );
    assert.equal(out.subject, 'Erinnerung: Team');
    assert.equal(out.html, '<!DOCTYPE html><html><body><h1>Team</h1><p>10:00</p><a href="https://mana.how/e/1">Öffnen</a></body></html>');
  });
});

describe('template syntax errors (code template.invalid, with the place)', () => {
  const cases: [string, string, number, number, RegExp][] = [
    ['unclosed if', 'line one\n  {{#if x}}never closed', 2, 3, /\{\{#if x\}\} is never closed/],
    ['unclosed Go if', '{{if .x}}a{{if .y}}b{{end}}', 1, 1, /\{\{if \.x\}\} is never closed/],
    ['stray {{/if}}', 'a\nb {{/if}}', 2, 3, /without an open if block/],
    ['stray {{end}}', '{{end}}', 1, 1, /without an open if block/],
    ['{{else}} outside if', 'x {{else}}', 1, 3, /outside of an if block/],
    ['second {{else}}', '{{#if a}}1{{else}}2{{else}}3{{/if}}', 1, 20, /second '\{\{else\}\}'/],
    ['unterminated tag', 'Hello {{name', 1, 7, /never closed with '\}\}'/],
    ['unsupported expression', '{{range .items}}x{{end}}', 1, 1, /unsupported expression "range \.items"/],
    ['pipeline', '{{.name | html}}', 1, 1, /unsupported expression/],
    ['triple braces', '{{{raw}}}', 1, 1, /not supported/],
    ['empty tag', 'a {{ }}', 1, 3, /an empty tag/],
    ['if without a name', '{{#if}}x{{/if}}', 1, 1, /unsupported expression/],
    ['if with a bad name', '{{#if a-b}}x{{/if}}', 1, 1, /needs a variable name/],
  ];
  for (const [name, source, line, column, message] of cases) {
    it(`reports ${name} at line ${line}, column ${column}`, () => {
      const err = syntaxError(() => renderTemplate({ bodyTemplate: source }, {}));
      assert.equal(err.code, 'template.invalid');
      assert.equal(err.part, 'body');
      assert.equal(err.line, line);
      assert.equal(err.column, column);
      assert.match(err.message, new RegExp(`^invalid body template: line ${line}, column ${column}: `));
      assert.match(err.message, message);
    });
  }

  it('names the part that is broken', () => {
    assert.equal(syntaxError(() => renderTemplate({ subject: 'Hi {{#if x}}', bodyTemplate: 'ok' })).part, 'subject');
    assert.match(syntaxError(() => checkTemplate({ subject: 'Hi {{#if x}}', bodyTemplate: 'ok' })).message, /^invalid subject template: line 1, column 4: /);
    assert.equal(syntaxError(() => checkTemplate({ bodyTemplate: 'ok', text: '{{end}}' })).part, 'text');
  });
});

describe('templateVariables', () => {
  it('lists every variable of subject, body and text once, in order of use', () => {
    assert.deepEqual(
      templateVariables({ subject: '{{a}} {{.b}}', bodyTemplate: '{{#if c}}{{a}}{{else}}{{d.e}}{{/if}}', text: '{{f}}' }),
      ['a', 'b', 'c', 'd.e', 'f'],
    );
  });
});

describe('escapeHtml', () => {
  it('escapes & < > " and \'', () => {
    assert.equal(escapeHtml(`&<>"'x`), '&amp;&lt;&gt;&quot;&#39;x');
  });
});
