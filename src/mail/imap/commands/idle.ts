// IDLE, RFC 2177: the client waits; the server reports EXISTS, EXPUNGE and flag changes as they happen, until DONE.
import { bad, no, ok, type CommandSpec } from './types.ts';

export const idle: CommandSpec = {
  name: 'IDLE',
  states: ['authenticated', 'selected'],
  schema: [],
  async handler(s) {
    await s.send('+ idling');
    // Changes made before IDLE began are reported at once.
    await s.sync({ expunges: true });
    for (;;) {
      const r = await s.readLineOrChange();
      if (r === undefined) return no('Connection closed');
      if (typeof r === 'object') {
        await s.sync({ expunges: true });
        continue;
      }
      if (r.trim().toUpperCase() === 'DONE') return ok('IDLE terminated');
      return bad('Expected DONE');
    }
  },
};
