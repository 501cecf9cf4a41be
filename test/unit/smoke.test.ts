import test from 'ava';
test('toolchain runs TypeScript tests', (t) => { const n: number = 2 + 2; t.is(n, 4); });
