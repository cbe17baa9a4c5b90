// `mana account create|list|passwd|delete|roles`: the accounts (principals) the seed manages with curl, from the command line.
import { randomBytes } from 'node:crypto';
import { EXIT, parse, runCommand, str, strs, table, UsageError, type CliIo } from './args.ts';
import { createPrincipalChecked, deletePrincipalChecked, listPrincipals, patchPrincipal, requirePrincipal, type PatchOp } from '../mail/admin/principals.ts';

export const USAGE = `Usage:
  mana account create NAME [--password PW | --password-hash HASH] [--email ADDRESS]... [--role ROLE]... [--description TEXT] [--api-key]
      A password is generated and printed when none is given. Roles default to "user" (needed to send).
      --password-hash takes a SHA512-crypt ($6$, openssl passwd -6), SHA256-crypt, bcrypt or argon2 hash.
      --api-key makes an apiKey principal: its password is a Bearer token for the admin API.
  mana account list [--type individual|apiKey|domain] [--filter TEXT]
  mana account passwd NAME [--password PW | --password-hash HASH]
  mana account delete NAME
  mana account roles NAME                 show the roles
  mana account roles NAME ROLE...         set the roles (e.g. user, admin)
  mana account roles NAME [--add ROLE]... [--remove ROLE]...
`;

const generated = () => randomBytes(18).toString('base64url');

function secretFrom(values: Record<string, unknown>): { secret: string; shown?: string } {
  const password = str(values.password);
  const hash = str(values['password-hash']);
  if (password !== undefined && hash !== undefined) throw new UsageError('give --password or --password-hash, not both');
  if (hash !== undefined) {
    if (!hash.startsWith('$')) throw new UsageError('--password-hash takes a hash such as $6$... (openssl passwd -6)');
    return { secret: hash };
  }
  if (password !== undefined) {
    if (!password) throw new UsageError('--password cannot be empty');
    return { secret: password };
  }
  const made = generated();
  return { secret: made, shown: made };
}

const oneName = (positionals: string[], what = 'NAME'): string => {
  if (positionals.length !== 1) throw new UsageError(`expected ${what}`);
  return positionals[0];
};

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'account', USAGE, async () => {
    switch (sub) {
      case 'create': {
        const { positionals, values } = parse(rest, {
          password: { type: 'string' }, 'password-hash': { type: 'string' }, email: { type: 'string', multiple: true },
          role: { type: 'string', multiple: true }, description: { type: 'string' }, 'api-key': { type: 'boolean' },
        });
        const name = oneName(positionals);
        const apiKey = values['api-key'] === true;
        const { secret, shown } = secretFrom(values);
        const roles = strs(values.role);
        const id = await createPrincipalChecked(io.store, {
          type: apiKey ? 'apiKey' : 'individual',
          name,
          secrets: [secret],
          emails: strs(values.email),
          roles: roles.length || apiKey ? roles : ['user'],
          description: str(values.description),
        });
        io.out(`created ${apiKey ? 'api key' : 'account'} ${name} (id ${id})`);
        if (shown) io.out(`${apiKey ? 'token' : 'password'}: ${shown}   (shown once)`);
        return EXIT.ok;
      }
      case 'list': {
        const { positionals, values } = parse(rest, { type: { type: 'string' }, filter: { type: 'string' } });
        if (positionals.length) throw new UsageError(`unexpected ${positionals[0]}`);
        const type = str(values.type);
        const { items } = await listPrincipals(io.store, { types: type ? [type] : ['individual', 'apiKey'], filter: str(values.filter) });
        io.out(table(['NAME', 'TYPE', 'ROLES', 'EMAILS'], items.map((p) => [p.name, p.type, p.roles.join(',') || '-', p.emails.join(', ') || '-'])));
        return EXIT.ok;
      }
      case 'passwd': {
        const { positionals, values } = parse(rest, { password: { type: 'string' }, 'password-hash': { type: 'string' } });
        const name = oneName(positionals);
        const { secret, shown } = secretFrom(values);
        await patchPrincipal(io.store, name, [{ action: 'set', field: 'secrets', value: [secret] }]);
        io.out(`password of ${name} changed`);
        if (shown) io.out(`password: ${shown}   (shown once)`);
        return EXIT.ok;
      }
      case 'delete': {
        const { positionals } = parse(rest);
        const name = oneName(positionals);
        await deletePrincipalChecked(io.store, name);
        io.out(`deleted ${name}`);
        return EXIT.ok;
      }
      case 'roles': {
        const { positionals, values } = parse(rest, { add: { type: 'string', multiple: true }, remove: { type: 'string', multiple: true } });
        if (!positionals.length) throw new UsageError('expected NAME');
        const [name, ...set] = positionals;
        const add = strs(values.add);
        const remove = strs(values.remove);
        if (set.length && (add.length || remove.length)) throw new UsageError('give the roles to set, or --add/--remove, not both');
        const ops: PatchOp[] = [];
        if (set.length) ops.push({ action: 'set', field: 'roles', value: set });
        if (add.length) ops.push({ action: 'addItem', field: 'roles', value: add });
        if (remove.length) ops.push({ action: 'removeItem', field: 'roles', value: remove });
        if (ops.length) await patchPrincipal(io.store, name, ops);
        const p = await requirePrincipal(io.store, name);
        io.out(`${p.name}: ${p.roles.join(' ') || '(no roles)'}`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    }
  });
}
