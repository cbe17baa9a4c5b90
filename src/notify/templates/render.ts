// Notification template rendering: `{{var}}` / `{{#if var}}…{{else}}…{{/if}}` and the original service's Go text/template subset `{{.var}}` / `{{if .var}}…{{end}}`; HTML-escaping per the HTML Living Standard §13.1.
import { htmlToText } from './html-text.ts';

export type TemplatePart = 'subject' | 'body' | 'text';

export type TemplateError = Error & {
  code: 'template.invalid';
  part: TemplatePart;
  line: number;
  column: number;
};

export type TemplateSource = {
  subject?: string | null | undefined;
  bodyTemplate: string;
  /** Plain-text template; when absent the text is derived from the rendered HTML */
  text?: string | null | undefined;
};

export type RenderedTemplate = { subject: string; html: string; text: string };

export type RenderOptions = {
  /**
   * 'html' (default): the body is HTML, variables are HTML-escaped in it.
   * 'text': the body is plain text (push, webhook); nothing is escaped, `html` is ''.
   */
  format?: 'html' | 'text';
};

type Node =
  | { kind: 'text'; value: string }
  | { kind: 'var'; path: readonly string[] }
  | { kind: 'if'; path: readonly string[]; then: Node[]; else: Node[] };

type Frame = { node: Extract<Node, { kind: 'if' }>; inElse: boolean; chained: boolean; at: number; opener: string };

type Position = { line: number; column: number };

function positionOf(source: string, index: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}

class TemplateSyntaxError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, position: Position) {
    super(`line ${position.line}, column ${position.column}: ${message}`);
    this.line = position.line;
    this.column = position.column;
  }
}

/** The error for a problem at `index`; the line and column are worked out only when needed. */
function syntaxError(source: string, index: number, message: string): TemplateSyntaxError {
  return new TemplateSyntaxError(message, positionOf(source, index));
}

// A variable path: `name`, `name.sub` (Handlebars) or `.name`, `.name.sub` (Go).
const PATH = /^\.?([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)$/;

function parsePath(expression: string): string[] | undefined {
  const match = PATH.exec(expression);
  return match === null ? undefined : match[1]!.split('.');
}

function parse(source: string): Node[] {
  const root: Node[] = [];
  const stack: Frame[] = [];
  let trimNextText = false;
  let index = 0;

  const target = (): Node[] => {
    const frame = stack.at(-1);
    if (frame === undefined) return root;
    return frame.inElse ? frame.node.else : frame.node.then;
  };
  const pushText = (value: string): void => {
    const text = trimNextText ? value.trimStart() : value;
    trimNextText = false;
    if (text !== '') target().push({ kind: 'text', value: text });
  };

  while (index < source.length) {
    const open = source.indexOf('{{', index);
    if (open === -1) {
      pushText(source.slice(index));
      break;
    }
    pushText(source.slice(index, open));
    if (source.startsWith('{{{', open)) {
      throw syntaxError(source, open, "'{{{' (unescaped output) is not supported; use '{{name}}'");
    }
    // Comments: {{!-- … --}} and {{! … }} (Handlebars), {{/* … */}} (Go).
    let close: number;
    let inner: string;
    if (source.startsWith('{{!--', open)) {
      close = source.indexOf('--}}', open + 5);
      if (close === -1) throw syntaxError(source, open, "unterminated comment '{{!--'");
      index = close + 4;
      continue;
    }
    close = source.indexOf('}}', open + 2);
    if (close === -1) throw syntaxError(source, open, "'{{' is never closed with '}}'");
    inner = source.slice(open + 2, close);
    index = close + 2;

    // Whitespace trimming: `{{- ` / `{{~` trims before the tag, ` -}}` / `~}}` after it.
    if (/^[-~](\s|$)/.test(inner) || inner.startsWith('~')) {
      const nodes = target();
      const last = nodes.at(-1);
      if (last?.kind === 'text') {
        last.value = last.value.trimEnd();
        if (last.value === '') nodes.pop();
      }
      inner = inner.slice(1);
    }
    if (/(^|\s)-$/.test(inner) || inner.endsWith('~')) {
      trimNextText = true;
      inner = inner.slice(0, -1);
    }
    const tag = inner.trim();

    if (tag.startsWith('!') || (tag.startsWith('/*') && tag.endsWith('*/'))) continue;

    const ifMatch = /^(#if|if)\s+(\S+)$/.exec(tag);
    if (ifMatch !== null) {
      const path = parsePath(ifMatch[2]!);
      if (path === undefined) throw syntaxError(source, open, `'${ifMatch[1]}' needs a variable name, got ${JSON.stringify(ifMatch[2])}`);
      const node: Frame['node'] = { kind: 'if', path, then: [], else: [] };
      target().push(node);
      stack.push({ node, inElse: false, chained: false, at: open, opener: `{{${ifMatch[1]} ${ifMatch[2]}}}` });
      continue;
    }

    const elseMatch = /^else(?:\s+if\s+(\S+))?$/.exec(tag);
    if (elseMatch !== null) {
      const frame = stack.at(-1);
      if (frame === undefined) throw syntaxError(source, open, "'{{else}}' outside of an if block");
      if (frame.inElse) {
        const opened = positionOf(source, frame.at);
        throw syntaxError(source, open, `second '{{else}}' in the if block opened at line ${opened.line}, column ${opened.column}`);
      }
      frame.inElse = true;
      if (elseMatch[1] !== undefined) {
        // Go's {{else if .x}}: a nested if inside the else branch, closed by the same {{end}}.
        const path = parsePath(elseMatch[1]);
        if (path === undefined) throw syntaxError(source, open, `'else if' needs a variable name, got ${JSON.stringify(elseMatch[1])}`);
        const node: Frame['node'] = { kind: 'if', path, then: [], else: [] };
        frame.node.else.push(node);
        stack.push({ node, inElse: false, chained: true, at: open, opener: `{{else if ${elseMatch[1]}}}` });
      }
      continue;
    }

    if (tag === '/if' || tag === 'end') {
      if (stack.length === 0) throw syntaxError(source, open, `'{{${tag}}}' without an open if block`);
      while (stack.pop()?.chained === true) {
        // Close the whole else-if chain.
      }
      continue;
    }

    const path = parsePath(tag);
    if (path === undefined) {
      const shown = tag === '' ? 'an empty tag' : JSON.stringify(tag);
      throw syntaxError(source, open, `unsupported expression ${shown}; only {{name}}, {{.name}}, if/else/end are supported`);
    }
    target().push({ kind: 'var', path });
  }

  // Report the innermost block that is still open: that is where the closer is missing.
  const open = stack.findLast((frame) => !frame.chained) ?? stack.at(-1);
  if (open !== undefined) {
    throw syntaxError(source, open.at, `${open.opener} is never closed (expected '{{/if}}' or '{{end}}')`);
  }
  return root;
}

const cache = new Map<string, Node[]>();
const CACHE_LIMIT = 500;

function compile(source: string, part: TemplatePart): Node[] {
  const cached = cache.get(source);
  if (cached !== undefined) return cached;
  let nodes: Node[];
  try {
    nodes = parse(source);
  } catch (err) {
    if (!(err instanceof TemplateSyntaxError)) throw err;
    const error = new Error(`invalid ${part} template: ${err.message}`, { cause: err });
    throw Object.assign(error, { code: 'template.invalid' as const, part, line: err.line, column: err.column }) as TemplateError;
  }
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(source, nodes);
  return nodes;
}

function lookup(data: unknown, path: readonly string[]): unknown {
  let value = data;
  for (const key of path) {
    // Own properties only, so `{{constructor}}` cannot reach the prototype chain.
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

// Go text/template truth: false, 0, nil, and empty strings, arrays and maps are false.
function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '' || Number.isNaN(value)) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.map(stringify).join(', ');
  return JSON.stringify(value);
}

/** Escapes the five characters that matter in HTML text and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function render(nodes: readonly Node[], data: unknown, encode: (value: string) => string): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.value;
    else if (node.kind === 'var') out += encode(stringify(lookup(data, node.path)));
    else out += render(truthy(lookup(data, node.path)) ? node.then : node.else, data, encode);
  }
  return out;
}

const raw = (value: string): string => value;
// RFC 5322 §2.2: a Subject is one line, so line breaks (in values or the template) become spaces.
const oneLine = (value: string): string => value.replace(/\r\n|[\r\n\u2028\u2029]/g, ' ');

/**
 * Throws `template.invalid` (with `part`, `line`, `column`) when any part of the template
 * does not parse; returns nothing otherwise. For validating templates before storing them.
 */
export function checkTemplate(source: TemplateSource): void {
  if (source.subject) compile(source.subject, 'subject');
  compile(source.bodyTemplate, 'body');
  if (source.text) compile(source.text, 'text');
}

/** The variable names a template refers to, in order of first use. */
export function templateVariables(source: TemplateSource): string[] {
  const names = new Set<string>();
  const walk = (nodes: readonly Node[]): void => {
    for (const node of nodes) {
      if (node.kind === 'var') names.add(node.path.join('.'));
      if (node.kind === 'if') {
        names.add(node.path.join('.'));
        walk(node.then);
        walk(node.else);
      }
    }
  };
  if (source.subject) walk(compile(source.subject, 'subject'));
  walk(compile(source.bodyTemplate, 'body'));
  if (source.text) walk(compile(source.text, 'text'));
  return [...names];
}

/**
 * Renders a stored template with `data`. Variables are HTML-escaped in the HTML body and
 * inserted as they are in the subject (line breaks folded to spaces) and the text; missing
 * variables render empty. Without a text template the text is derived from the HTML.
 * Throws `template.invalid` with a message like `invalid body template: line 3, column 5: …`.
 */
export function renderTemplate(
  source: TemplateSource,
  data?: Readonly<Record<string, unknown>> | null,
  options: RenderOptions = {},
): RenderedTemplate {
  const values = data ?? {};
  const subjectNodes = source.subject ? compile(source.subject, 'subject') : [];
  const bodyNodes = compile(source.bodyTemplate, 'body');
  const textNodes = source.text ? compile(source.text, 'text') : undefined;

  const subject = oneLine(render(subjectNodes, values, raw)).trim();
  if (options.format === 'text') {
    const text = render(textNodes ?? bodyNodes, values, raw);
    return { subject, html: '', text };
  }
  const html = render(bodyNodes, values, escapeHtml);
  const text = textNodes === undefined ? htmlToText(html) : render(textNodes, values, raw);
  return { subject, html, text };
}
