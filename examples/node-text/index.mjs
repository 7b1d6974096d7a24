// A text transformer: give it {"text": "...", "ops": ["trim", "title", ...]} and it applies the
// operations in order and returns the result with a few statistics. An unknown operation is a
// function error (errorType UnknownOperation), which `nimbus invoke` reports with exit status 1.

const operations = {
  upper: (s) => s.toUpperCase(),
  lower: (s) => s.toLowerCase(),
  title: (s) => s.toLowerCase().replace(/\b\p{L}/gu, (c) => c.toUpperCase()),
  reverse: (s) => [...s].reverse().join(''),
  trim: (s) => s.trim().replace(/\s+/g, ' '),
  slug: (s) =>
    s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
      .replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, ''),
};

class UnknownOperation extends Error {
  constructor(op) {
    super(`unknown operation "${op}"; use one of: ${Object.keys(operations).join(', ')}`);
    this.name = 'UnknownOperation';
  }
}

export const handler = async (event) => {
  const text = String(event.text ?? '');
  const ops = event.ops ?? (event.op ? [event.op] : ['trim']);
  let result = text;
  for (const op of ops) {
    const fn = operations[op];
    if (!fn) throw new UnknownOperation(op);
    result = fn(result);
  }
  console.log(`applied ${ops.join(' → ')} to ${text.length} characters`);
  return {
    result,
    ops,
    stats: {
      characters: [...result].length,
      words: result.split(/\s+/).filter(Boolean).length,
      lines: result === '' ? 0 : result.split('\n').length,
    },
  };
};
