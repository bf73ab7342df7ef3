// A restricted reader of Python's pickle format (protocols 1 to 5, as torch.save writes its
// data.pkl; protocol 1 writes integers as text), for untrusted bytes: it builds values (None, booleans, numbers, strings, bytes,
// lists and tuples as arrays, dicts as Maps, sets as Sets) and never runs code. A GLOBAL is resolved by the
// caller (PyTorch's tensor rebuilders, or an inert stand-in for any other class), and so is a
// persistent id (a tensor's storage); REDUCE and NEWOBJ call what the caller gave. Opcodes
// outside that subset (old-style objects, extensions, out-of-band buffers) are refused by name, and so are
// protocol 0's text opcodes: torch.save(…, pickle_protocol=0) writes each storage's persistent id
// as text, which torch.load does not read either. Each failure is reported at its byte.
// Browser-safe.

/** What the caller resolves: the globals it allows, persistent ids, and state set on an object. */
export interface PickleHooks {
  /** The value of `module.name`: a function for a callable one (REDUCE calls it with its arguments). Throws to refuse it. */
  global(module: string, name: string): unknown;
  /** The object a persistent id stands for. */
  persistent(pid: unknown): unknown;
  /** Sets `state` on `obj` (BUILD); throws to refuse it. */
  build(obj: unknown, state: unknown): void;
}

/** Raised by unpickle: `at` is the offset in the pickle of the opcode that failed. */
export class PickleError extends Error {
  constructor(
    readonly at: number,
    why: string,
  ) {
    super(why);
  }
}

/** Names of pickle opcodes refused (old-style objects, extensions, out-of-band buffers), for the message (pickletools' names). */
const REFUSED: Record<number, string> = {
  0x92: 'NEWOBJ_EX', 0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};
/** Text opcodes of protocol 0 that later protocols write in binary (BINPUT, BINGET, BINPERSID …); INT and LONG, which protocol 1 still writes (for numbers past 4 bytes), are read. */
const PROTOCOL_0: Record<number, string> = { 0x70: 'PUT', 0x67: 'GET', 0x50: 'PERSID', 0x56: 'UNICODE', 0x53: 'STRING', 0x46: 'FLOAT' };

/**
 * What a pickle may build, counted together in units of at most about 15 bytes of memory each: a
 * value pushed or put into a container 1; an open mark, a tuple or a memo entry (a Map's) 4; a
 * list, which grows, 12; a dict 16. A state_dict's pickle takes about one per byte (PyTorch
 * 1.13's: 1.0 for 20,000 tensors of one element, 1.2 for the seed CNN's six), so two per byte
 * leave room for any, and a pickle of a few megabytes cannot fill the heap.
 */
const budgetOf = (bytes: number) => 4096 + 2 * bytes;
const [MARK, TUPLE, MEMO, LIST, DICT] = [4, 4, 4, 12, 16];
/** REDUCE's most arguments: far more than the callables of a state_dict (at most 7) or a class's reconstruction take. */
const MAX_ARGS = 32;

/** The value `bytes` pickle, resolving globals, persistent ids and BUILD through `hooks`. */
export function unpickle(bytes: Uint8Array, hooks: PickleHooks): unknown {
  return unpickleFirst(bytes, hooks).value;
}

/**
 * The value of the pickle `bytes` begin with, and its length: the bytes after its STOP are not
 * read (torch.save's legacy format writes pickles one after another, then the storages).
 */
export function unpickleFirst(bytes: Uint8Array, hooks: PickleHooks): { value: unknown; length: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  // Python's pickler numbers its memo entries 0, 1, 2 … as it puts them, but the unpickler takes any numbers.
  const memo = new Map<number, unknown>();
  let at = 0;
  let op = 0; // where the current opcode starts
  let budget = budgetOf(bytes.length);
  const spend = (n = 1) => {
    if ((budget -= n) < 0) throw new PickleError(op, `more values, memo entries and marks than a pickle of ${bytes.length} bytes makes (${budgetOf(bytes.length)}): not a state_dict's`);
  };
  const need = (n: number) => {
    if (at + n > bytes.length) throw new PickleError(op, `the pickle ends inside an opcode (${n} bytes needed at byte ${at}, ${bytes.length} in all)`);
    const start = at;
    at += n;
    return start;
  };
  const u8 = () => bytes[need(1)]!;
  const u32 = () => view.getUint32(need(4), true);
  const u64 = () => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(bytes.length)) throw new PickleError(op, `a length of ${v}, past the end of the pickle`);
    return Number(v);
  };
  const text = (n: number, latin1 = false) => {
    const s = need(n);
    try {
      return new TextDecoder(latin1 ? 'latin1' : 'utf-8', { fatal: true }).decode(bytes.subarray(s, s + n));
    } catch {
      throw new PickleError(op, 'a string that is not valid UTF-8');
    }
  };
  const line = (what = 'a GLOBAL', ends = 'its name') => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw new PickleError(op, `${what} without the newline that ends ${ends}`);
    const s = text(end - at, true);
    at++; // the newline
    return s;
  };
  const push = (v: unknown) => {
    spend();
    stack.push(v);
  };
  const pop = () => {
    if (stack.length === (marks.at(-1) ?? 0)) throw new PickleError(op, 'an opcode takes a value from an empty stack');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === (marks.at(-1) ?? 0)) throw new PickleError(op, 'an opcode takes a value from an empty stack');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) throw new PickleError(op, 'an opcode takes the values since a MARK, and there is none');
    return stack.splice(m);
  };
  const put = (key: number) => {
    spend(MEMO);
    memo.set(key, top());
  };
  const get = (key: number) => {
    if (!memo.has(key)) throw new PickleError(op, `memo entry ${key} is read before it is written`);
    push(memo.get(key));
  };
  // INT's and LONG's digits (protocol 1), at most Python's 4300 (its int_max_str_digits).
  const decimal = (s: string, what: string) => {
    if (!/^[-+]?\d{1,4300}$/.test(s)) throw new PickleError(op, `${what} that is not an integer in decimal digits`);
    const v = BigInt(s);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const dictOf = (v: unknown, what: string) => {
    if (!(v instanceof Map)) throw new PickleError(op, `${what} on something other than a dict`);
    return v as Map<unknown, unknown>;
  };
  const listOf = (v: unknown, what: string) => {
    if (!Array.isArray(v) || Object.isFrozen(v)) throw new PickleError(op, `${what} on something other than a list`);
    return v as unknown[];
  };
  const setItems = (d: Map<unknown, unknown>, items: unknown[]) => {
    if (items.length % 2) throw new PickleError(op, 'SETITEMS with a key and no value');
    spend(items.length / 2);
    for (let i = 0; i < items.length; i += 2) d.set(hashable(items[i]), items[i + 1]);
  };
  // A state_dict's keys are strings; numbers, booleans and None are kept as the Map's keys.
  const hashable = (k: unknown) => {
    if (typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean' || k === null) return k;
    throw new PickleError(op, 'a dict key that is not a string, a number, a boolean or None');
  };
  const tuple = (items: unknown[]) => {
    spend(TUPLE - 1); // and 1 as it is pushed
    return Object.freeze(items);
  };
  const list = (items: unknown[]) => {
    spend(LIST - 1);
    return items;
  };
  const dict = () => {
    spend(DICT - 1);
    return new Map<unknown, unknown>();
  };

  for (;;) {
    op = at;
    const code = u8();
    switch (code) {
      case 0x80: // PROTO
        if (u8() > 5) throw new PickleError(op, `pickle protocol ${bytes[op + 1]}, past the 5 read`);
        break;
      case 0x95: // FRAME: a length, then the opcodes framed
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) throw new PickleError(op, `STOP with ${stack.length} values on the stack and ${marks.length} marks open, not one value`);
        return { value: stack[0], length: at };
      case 0x28: // MARK
        spend(MARK);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x29: // EMPTY_TUPLE
        push(tuple([]));
        break;
      case 0x5d: // EMPTY_LIST
        push(list([]));
        break;
      case 0x7d: // EMPTY_DICT
        push(dict());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(view.getUint16(need(2), true));
        break;
      case 0x4a: // BININT
        push(view.getInt32(need(4), true));
        break;
      case 0x49: {
        // INT: decimal digits and a newline; "I00" and "I01" are False and True
        const s = line('an INT', 'its digits');
        push(s === '00' ? false : s === '01' ? true : decimal(s, 'an INT'));
        break;
      }
      case 0x4c: {
        // LONG: decimal digits, maybe an L, and a newline
        const s = line('a LONG', 'its digits');
        push(decimal(s.endsWith('L') ? s.slice(0, -1) : s, 'a LONG'));
        break;
      }
      case 0x8a: {
        // LONG1: n bytes of a little-endian two's complement integer
        const n = u8();
        const s = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[s + i]!);
        if (n && bytes[s + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT: big-endian f64
        push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(text(u64()));
        break;
      case 0x54: // BINSTRING (Python 2's str)
        push(text(u32(), true));
        break;
      case 0x55: // SHORT_BINSTRING
        push(text(u8(), true));
        break;
      case 0x42: // BINBYTES
      case 0x43: {
        // SHORT_BINBYTES
        const n = code === 0x42 ? u32() : u8();
        const s = need(n);
        push(bytes.slice(s, s + n));
        break;
      }
      case 0x74: // TUPLE
        push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const c = code >= 0x87 ? pop() : undefined;
        const b = code >= 0x86 ? pop() : undefined;
        const a = pop();
        push(tuple(code === 0x85 ? [a] : code === 0x86 ? [a, b] : [a, b, c]));
        break;
      }
      case 0x6c: // LIST
        push(list(popMark()));
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        spend();
        listOf(top(), 'APPEND').push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        spend(items.length);
        const list = listOf(top(), 'APPENDS');
        for (const v of items) list.push(v); // not push(...items): too many arguments for a call
        break;
      }
      case 0x64: {
        // DICT
        const d = dict();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        spend();
        dictOf(top(), 'SETITEM').set(hashable(k), v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(dictOf(top(), 'SETITEMS'), items);
        break;
      }
      case 0x71: // BINPUT
        put(u8());
        break;
      case 0x72: // LONG_BINPUT
        put(u32());
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        get(u8());
        break;
      case 0x6a: // LONG_BINGET
        get(u32());
        break;
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = line();
        push(resolve(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError(op, 'STACK_GLOBAL of something other than two strings');
        push(resolve(module, name));
        break;
      }
      case 0x81: // NEWOBJ: cls.__new__(cls, *args), as the caller's callable makes it
      case 0x52: {
        // REDUCE: callable(*args)
        const args = pop();
        const f = pop();
        const name = code === 0x81 ? 'NEWOBJ' : 'REDUCE';
        if (typeof f !== 'function') throw new PickleError(op, `${name} calls something that is not a callable`);
        if (!Array.isArray(args)) throw new PickleError(op, `${name} with arguments that are not a tuple`);
        if (args.length > MAX_ARGS) throw new PickleError(op, `${name} with ${args.length} arguments, more than any callable read takes`);
        const made = call(() => (f as (...a: unknown[]) => unknown)(...args));
        if (made instanceof Map) spend(DICT - 1); // OrderedDict()
        push(made);
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        call(() => hooks.build(obj, state));
        break;
      }
      case 0x8f: // EMPTY_SET (protocol 4): a set, as a JS Set of its items (a checkpoint's other entries)
        spend(LIST - 1);
        push(new Set<unknown>());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        spend(items.length);
        const set = top();
        if (!(set instanceof Set) || Object.isFrozen(set)) throw new PickleError(op, 'ADDITEMS on something other than a set');
        for (const v of items) set.add(v);
        break;
      }
      case 0x91: // FROZENSET
        spend(LIST - 1);
        push(Object.freeze(new Set<unknown>(popMark())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: {
        // BYTEARRAY8 (protocol 5)
        const n = u64();
        const s = need(n);
        push(bytes.slice(s, s + n));
        break;
      }
      case 0x51: // BINPERSID
        push(call(() => hooks.persistent(pop())));
        break;
      default: {
        const hex = `0x${code.toString(16).padStart(2, '0')}`;
        if (PROTOCOL_0[code]) {
          throw new PickleError(op, `opcode ${PROTOCOL_0[code]} (${hex}) is of pickle protocol 0, which is not read, nor by torch.load in a torch.save file (pickle_protocol=0 writes the storages' ids as text): save it with torch.save's default protocol`);
        }
        const name = REFUSED[code];
        throw new PickleError(op, name ? `opcode ${name} (${hex}) is not read: a state_dict's pickle has no use for it` : `opcode ${hex} is not one of the pickle opcodes read`);
      }
    }
  }

  function resolve(module: string, name: string): unknown {
    return call(() => hooks.global(module, name));
  }

  // A hook's refusal, reported at the opcode that called it.
  function call<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof PickleError) throw e;
      throw new PickleError(op, e instanceof Error ? e.message : String(e));
    }
  }
}
