/**
 * Test helper run as a separate process by `lock_test.ts`: holds or takes a container lock so
 * the test can contend for it across processes. Not part of the library.
 *
 * Usage: `lock_child.ts <state> <ns> <id> hold` prints `locked <pid>` once held and releases
 * when stdin closes; `lock_child.ts <state> <ns> <id> take <timeoutMs>` prints `acquired` or
 * `failed <kind>` and exits.
 *
 * @module
 */

import { acquireContainerLock } from "./lock.ts";
import { kindOf } from "../errors.ts";

const [state, ns, id, mode, timeout] = process.argv.slice(2);
if (mode === "hold") {
  const lock = await acquireContainerLock(state, ns, id, { timeoutMs: 5000 });
  process.stdout.write(`locked ${process.pid}\n`);
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await lock.release();
    process.exit(0);
  });
} else {
  try {
    const lock = await acquireContainerLock(state, ns, id, { timeoutMs: Number(timeout) });
    await lock.release();
    process.stdout.write("acquired\n");
  } catch (err) {
    process.stdout.write(`failed ${kindOf(err)}\n`);
  }
  process.exit(0);
}
