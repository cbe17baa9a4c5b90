// The HTML frame of the built-in emails: a 600px single-column table layout with inline styles (HTML email practice; WCAG 2.2 AA contrast), producing template source for render.ts.

export type EmailCopy = {
  /** BCP 47 primary language for the lang attribute */
  lang: string;
  heading: string;
  /** Template source for the salutation line, e.g. `{{#if userName}}Hallo {{userName}},{{else}}Hallo,{{/if}}` */
  greeting?: string;
  /** Template source of each paragraph (trusted markup, variables escaped by the renderer) */
  paragraphs: readonly string[];
  action?: {
    label: string;
    /** Variable holding the link target */
    urlVariable: string;
    /** The sentence before the plain copy of the link */
    fallback: string;
    /** Leave the button out when the variable is empty */
    optional?: boolean;
  };
  /** Smaller print after the button (validity, "ignore if this was not you") */
  notes?: readonly string[];
  footer: string;
};

const FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;";
const ACCENT = '#4f46e5';

function actionBlock(action: NonNullable<EmailCopy['action']>): string {
  const url = `{{${action.urlVariable}}}`;
  const block = [
    '<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:24px 0;">',
    `<tr><td style="border-radius:6px;background-color:${ACCENT};">`,
    `<a href="${url}" style="display:inline-block;padding:12px 24px;${FONT}font-size:16px;font-weight:600;color:#ffffff;text-decoration:none;border-radius:6px;">${action.label}</a>`,
    '</td></tr>',
    '</table>',
    `<p style="margin:0 0 8px;font-size:14px;color:#52525b;">${action.fallback}</p>`,
    `<p style="margin:0 0 16px;font-size:14px;word-break:break-all;"><a href="${url}" style="color:${ACCENT};">${url}</a></p>`,
  ].join('\n');
  return action.optional === true ? `{{#if ${action.urlVariable}}}\n${block}\n{{/if}}` : block;
}

/** Builds the body template of a built-in email from its copy. */
export function emailLayout(copy: EmailCopy): string {
  const paragraph = (html: string): string => `<p style="margin:0 0 16px;">${html}</p>`;
  const note = (html: string): string => `<p style="margin:0 0 8px;font-size:14px;color:#52525b;">${html}</p>`;
  return [
    '<!DOCTYPE html>',
    `<html lang="${copy.lang}" dir="ltr">`,
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light">',
    `<title>${copy.heading}</title>`,
    '</head>',
    '<body style="margin:0;padding:0;background-color:#f4f4f5;">',
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f4f4f5;">',
    '<tr><td align="center" style="padding:32px 16px;">',
    '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;background-color:#ffffff;border-radius:8px;">',
    `<tr><td style="padding:32px 40px 0;${FONT}font-size:20px;font-weight:700;color:${ACCENT};">Mana</td></tr>`,
    `<tr><td style="padding:16px 40px 24px;${FONT}font-size:16px;line-height:1.6;color:#18181b;">`,
    `<h1 style="margin:0 0 16px;font-size:22px;line-height:1.3;color:#18181b;">${copy.heading}</h1>`,
    ...(copy.greeting === undefined ? [] : [paragraph(copy.greeting)]),
    ...copy.paragraphs.map(paragraph),
    ...(copy.action === undefined ? [] : [actionBlock(copy.action)]),
    ...(copy.notes ?? []).map(note),
    '</td></tr>',
    `<tr><td style="padding:16px 40px 24px;border-top:1px solid #e4e4e7;${FONT}font-size:12px;line-height:1.5;color:#71717a;">${copy.footer}</td></tr>`,
    '</table>',
    '</td></tr>',
    '</table>',
    '</body>',
    '</html>',
  ].join('\n');
}
