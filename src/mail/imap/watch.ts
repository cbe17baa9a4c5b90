// Change notices for IMAP sessions (RFC 2177 IDLE, RFC 3501 §7.3.1 EXISTS): in-process pokes when this node changes a mailbox; sessions poll the store as well for other nodes.
export type MailboxWatch = {
  /** Something in `box` changed (a delivery, an APPEND, a STORE...); every box when undefined. */
  changed(box?: string): void;
  /** Calls `fn` on each change of `box` until the returned function is called. */
  subscribe(box: string, fn: () => void): () => void;
};

export function createMailboxWatch(): MailboxWatch {
  const subscribers = new Map<string, Set<() => void>>();
  return {
    changed(box) {
      const sets = box === undefined ? [...subscribers.values()] : [subscribers.get(box)].filter((s) => s !== undefined);
      for (const set of sets) for (const fn of [...set]) fn();
    },
    subscribe(box, fn) {
      let set = subscribers.get(box);
      if (!set) subscribers.set(box, (set = new Set()));
      set.add(fn);
      return () => {
        set.delete(fn);
        if (set.size === 0 && subscribers.get(box) === set) subscribers.delete(box);
      };
    },
  };
}
