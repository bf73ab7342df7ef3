import { createRuntime, add, relu } from '../dist/index.js';
const rt = await createRuntime();
async function tryit(name, fn) { try { console.log(name, await fn()); } catch (e) { console.log(name, 'ERR', e.message); } }
await tryit('A', async () => { const x = rt.tensor([1,2,3]); const y = add(x, 1); x.dispose(); return y.read(); });
await tryit('B', async () => { const x = rt.tensor([1,2,3]); const y = add(x, 1); const p = y.read(); x.dispose(); return p; });
await tryit('C', async () => { const x = rt.tensor([1,2,3]); const y = relu(add(x, 1)); await y.realize(); x.dispose(); return y.read(); });
rt.dispose();
