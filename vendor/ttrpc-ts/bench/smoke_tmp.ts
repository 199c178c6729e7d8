import { Client, createClient, Server, TtrpcError } from "/work/main/vendor/ttrpc-ts/mod.ts";
import { Echo } from "/work/main/vendor/ttrpc-ts/tests/gen/echo_pb.ts";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const dir = mkdtempSync(join(tmpdir(), "ttrpc-smoke-"));
const sock = join(dir, "s.sock");
const server = new Server().register(Echo, {
  echo: (req, ctx) => ({ text: req.text, n: req.n, metadata: Object.entries(ctx.metadata).map(([k, v]) => `${k}=${v.join(",")}`) }),
  ping: () => {},
  fail: () => { throw new TtrpcError(5, "nope: not found"); },
  async sum(reqs) { let n = 0; for await (const r of reqs) n += r.n; return { n }; },
  async *count(req) { for (let i = 0; i < req.n; i++) yield { n: i }; },
  async *chat(reqs) { for await (const r of reqs) yield { text: r.text.toUpperCase() }; },
});
await server.listen(sock);
console.log("mode", (statSync(sock).mode & 0o777).toString(8));
const client = await Client.dial(sock, { metadata: { "X-A": "1" } });
const echo = createClient(Echo, client);
console.log(await echo.echo({ text: "hi", n: 3 }, { metadata: { b: ["x", "y"] } }));
console.log(await echo.ping({}));
try { await echo.fail({}); } catch (e) { console.log("fail:", e.name, e.code, e.message); }
console.log("sum", (await echo.sum([{ n: 1 }, { n: 2 }, { n: 3 }])).n);
const got = []; for await (const r of echo.count({ n: 4 })) got.push(r.n); console.log("count", got);
const chat = []; for await (const r of echo.chat((async function* () { yield { text: "a" }; yield { text: "b" }; })())) chat.push(r.text); console.log("chat", chat);
const t0 = performance.now(); const N = 20000;
for (let i = 0; i < N; i++) await echo.ping({});
console.log("seq us/call", ((performance.now() - t0) * 1000 / N).toFixed(1));
client.close();
await server.shutdown();
console.log("conns", server.connectionCount);
rmSync(dir, { recursive: true });
