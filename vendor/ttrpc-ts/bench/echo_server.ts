/**
 * Benchmark peer: a ttrpc-ts server answering task v2 Connect and State, like
 * shimbench-go's Go echo server. Usage: `echo_server.ts <socket>`; prints
 * "ready" once listening and exits on SIGTERM or SIGINT.
 *
 * @module
 */

import { Server } from "../mod.ts";
import { Task } from "./gen/task_min_pb.ts";

const path = process.argv[process.argv.length - 1];
const server = new Server().register(Task, {
  connect: () => ({ shimPid: process.pid, taskPid: 4242 }),
  state: (req) => ({
    id: req.id,
    bundle: `/tmp/shimbench/bundles/bench/${req.id}`,
    pid: 4242,
    status: 2,
  }),
});
await server.listen(path);
console.log("ready");
const stop = () => void server.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
