/**
 * Child process for `restore_test.ts`: drives a TaskManager on the given dirs and SIGKILLs
 * itself at one step of a task's life, leaving exactly what a crashed manager leaves.
 *
 * Usage: `restore_child.ts <json>` where json is
 * `{state, root, socketDir, runcRoot, runtime, namespace, id, spec, step}` and step is one of
 * `bundle` (bundle created, no shim), `connect` (shim started and connected, no Create),
 * `create` (Create returned, record not yet written), `created` (create() returned),
 * `started` (start() returned), `delete` (Delete RPC returned, Shutdown not sent).
 * Prints `step <name>` just before it dies; exits 3 when the step was never reached.
 */
import { writeSync } from "node:fs";
import { createRuntimeResolver } from "../src/runtime/resolve.ts";
import { TaskManager } from "../src/task/manager.ts";

const a = JSON.parse(process.argv[2]) as {
  state: string;
  root: string;
  socketDir: string;
  runcRoot?: string;
  runtime: string;
  namespace: string;
  id: string;
  spec: Record<string, unknown>;
  step: string;
};

const die = (name: string) => {
  // A synchronous write: the kill must not race an async flush.
  writeSync(1, `step ${name}\n`);
  process.kill(process.pid, "SIGKILL");
};

const tm = await TaskManager.open({
  state: a.state,
  root: a.root,
  socketDir: a.socketDir,
  resolver: createRuntimeResolver({ path: process.env.PATH }),
  onPhase: (name) => {
    if (name === a.step) die(name);
  },
});
const task = await tm.create({
  namespace: a.namespace,
  id: a.id,
  runtime: a.runtime,
  runtimeOptions: a.runcRoot ? { root: a.runcRoot } : undefined,
  spec: a.spec,
});
if (a.step === "created") die("created");
await task.start();
if (a.step === "started") die("started");
await task.kill(9);
await task.wait();
await tm.delete(a.namespace, a.id);
process.exit(3);
